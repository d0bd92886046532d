"""`splitbrain report` reads a run directory by the checker's rules and never lies about it
(issue #22 items 6, 7, 9): a corrupted line before the last is exit 2 naming it, a torn last
line is dropped and named, an empty history has its own verdict and exit 4, and no field of
the wrong type in the history, the status rounds or the run's JSON files is a traceback or
changes the verdict."""
import io
import json
from contextlib import redirect_stderr, redirect_stdout

import pytest

from splitbrain.cli import main

pytestmark = pytest.mark.unit

W1 = [{"process": 0, "type": "invoke", "f": "write", "key": "k", "value": 1, "time": 10},
      {"process": 0, "type": "ok", "f": "write", "key": "k", "value": 1, "time": 20}]
STALE = W1 + [{"process": 0, "type": "invoke", "f": "write", "key": "k", "value": 2, "time": 30},
              {"process": 0, "type": "ok", "f": "write", "key": "k", "value": 2, "time": 40},
              {"process": 1, "type": "invoke", "f": "read", "key": "k", "value": None, "time": 50},
              {"process": 1, "type": "ok", "f": "read", "key": "k", "value": 1, "time": 60}]
ROUND = {"time": 15, "nodes": {"1": {"role": "leader", "term": 1, "leader": "1"}, "2": None, "3": None}}


def make_run(tmp_path, events=STALE, raw_tail="", status=(ROUND,), config=None, extra=None):
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    (run / "history.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events) + raw_tail)
    (run / "status.jsonl").write_text("".join(json.dumps(r) + "\n" for r in status))
    (run / "config.json").write_text(json.dumps({"nodes": 3} if config is None else config))
    if extra is not None:
        (run / "extra-summary.json").write_text(json.dumps(extra))
    return run


def report(run):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["report", str(run)])
    return code, out.getvalue(), err.getvalue()


def one_line_exit_2(code, err, needle):
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and needle in lines[0], (code, err)


def test_a_violation_is_found(tmp_path):
    code, out, _ = report(make_run(tmp_path))
    assert code == 1 and "NOT LINEARIZABLE" in out


@pytest.mark.parametrize("line", [2, 4])
def test_a_corrupted_line_before_the_last_is_an_error_and_keeps_the_old_summary(tmp_path, line):
    run = make_run(tmp_path)
    assert report(run)[0] == 1
    before = (run / "summary.json").read_text()
    lines = (run / "history.jsonl").read_text().splitlines(keepends=True)
    lines[line - 1] = lines[line - 1][:25] + "\n"
    (run / "history.jsonl").write_text("".join(lines))
    code, out, err = report(run)
    one_line_exit_2(code, err, f"history.jsonl:{line}:")
    assert "linearizable" not in out and (run / "summary.json").read_text() == before


def test_a_torn_last_line_is_dropped_and_named(tmp_path):
    run = make_run(tmp_path, raw_tail='{"process": 2, "type": "inv')
    code, out, _ = report(run)
    assert code == 1, out  # the violation before the tear is still found
    assert "warning: history.jsonl:7: torn last line dropped (a run killed mid-write)" in out
    assert json.loads((run / "summary.json").read_text())["history_torn_line"].endswith("'{\"process\": 2, \"type\": \"inv'")


@pytest.mark.parametrize("events", [[], [{"process": "nemesis", "type": "info", "f": "heal", "value": None,
                                          "phase": "stop", "time": 5}]])
def test_an_empty_history_is_its_own_verdict(tmp_path, events):
    code, out, _ = report(make_run(tmp_path, events=events, status=()))
    assert code == 4 and "verdict: no operations" in out, out
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["valid"] == "empty"


@pytest.mark.parametrize("change,needle", [
    (dict(status=[{"time": 1, "nodes": [1, 2]}]), "status.jsonl:1: a status round's \"nodes\" must be an object"),
    (dict(status=[{"time": "x", "nodes": {}}]), "status.jsonl:1: a status round's \"time\""),
    (dict(config={"nodes": "three"}), "config.json: nodes must be an integer"),
    (dict(config={"model": ["kv"]}), "config.json: model must be one of"),
    (dict(config=[1, 2]), "config.json: expected a JSON object"),
    (dict(extra=[1]), "extra-summary.json: expected a JSON object"),
    (dict(events=STALE + [{"process": "nemesis", "type": "info", "f": "kill", "time": "soon"}]),
     "history.jsonl:7: nemesis \"time\" must be a finite number"),
    (dict(events=STALE + [{"process": "nemesis", "type": "info", "f": "kill", "time": 70, "fault": ["x"]}]),
     "history.jsonl:7: nemesis \"fault\""),
    (dict(events=STALE + [{"process": "nemesis", "type": "info", "f": 3, "time": 70}]),
     "history.jsonl:7: nemesis \"f\""),
    (dict(events=[{**e, "f": "get"} if e["f"] == "read" else e for e in STALE]), "model kv has no operation 'write'"),
])
def test_fields_of_the_wrong_type_are_one_line(tmp_path, change, needle):
    one_line_exit_2(*report(make_run(tmp_path, **change))[::2], needle)


def test_a_node_answer_of_the_wrong_type_is_as_if_unsaid(tmp_path):
    odd = {"time": 16, "nodes": {"1": {"role": 7, "term": "1", "leader": [1], "commit": 2.5}, "2": [], "3": 4}}
    code, out, _ = report(make_run(tmp_path, status=(ROUND, odd)))
    assert code == 1 and "NOT LINEARIZABLE" in out


def test_the_live_runs_extra_facts_never_override_the_verdict(tmp_path):
    code, out, _ = report(make_run(tmp_path, extra={"valid": True, "linearizable": {"valid": True},
                                                    "regions": {"count": 3}}))
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert code == 1 and s["valid"] is False and s["regions"] == {"count": 3}


@pytest.mark.parametrize("lines", [
    ['{"event": "start", "time": 1, "users": "x", "run_time": "y"}'],
    ['{"event": "start", "time": NaN, "users": 2, "run_time": 1e308}'],
    ['{"event": "start", "time": 5, "users": {}, "run_time": -1}', '{"event": "user-died", "time": 6, "user": [1]}'],
    ['{"event": "final-read", "time": 1, "note": [1]}', "not json", "[]"],
])
def test_what_the_load_says_of_itself_never_crashes_the_report(tmp_path, lines):
    run = make_run(tmp_path)
    (run / "load-events.jsonl").write_text("\n".join(lines) + "\n")
    code, out, err = report(run)
    assert code == 1 and "NOT LINEARIZABLE" in out, (code, err)
