"""`splitbrain check` end to end: exit codes, --json, malformed input (exit 2
with file:line, no traceback), --timeout, --html, a custom model."""
from __future__ import annotations

import json

import pytest

import checker
from clitool import jl, sb

pytestmark = pytest.mark.integration




W = [{"process": 0, "type": "invoke", "f": "write", "key": "k", "value": 1, "time": 10},
     {"process": 0, "type": "ok", "f": "write", "key": "k", "value": 1, "time": 20}]


def test_exit_codes_and_json(tmp_path, corpus_dir):
    good = corpus_dir / "jepsen-etcd" / "etcd_002.log"
    bad = corpus_dir / "jepsen-etcd" / "etcd_000.log"
    p = sb("--format", "jepsen-log", "--json", good, bad)
    assert p.returncode == 1, p.stderr
    lines = [json.loads(l) for l in p.stdout.splitlines()]
    assert [l["valid"] for l in lines] == [True, False]
    assert {"file", "valid", "seconds", "partitions", "ops"} <= set(lines[0])
    assert sb("--format", "jepsen-log", good).returncode == 0
    out = sb("--format", "jepsen-log", bad)
    assert "NOT linearizable" in out.stdout and "witness (" in out.stdout


@pytest.mark.parametrize("events,tail,why", [
    (W, '{"process": 1, "type": "invoke", "f": "re\n', "3: not a JSON object"),  # terminated: not a tear
    (W + [{"process": 1, "type": "invoke", "f": "frobnicate", "key": "k", "time": 30},
          {"process": 1, "type": "ok", "f": "frobnicate", "key": "k", "time": 31}], "", "3: model cas-register has no operation"),
    (W + [{"process": 5, "type": "ok", "f": "read", "key": "k", "value": 1, "time": 30}], "", "3: ok of process 5 without a preceding invoke"),
    (W + [{"process": 1, "type": "invoke", "f": "read", "key": "k", "time": 5}], "", "3: time goes backwards"),
])
def test_malformed_input_exit_2_with_file_and_line(tmp_path, events, tail, why):
    f = jl(tmp_path, "h.jsonl", events, tail)
    p = sb(f)
    assert p.returncode == 2
    assert f"{f}:{why}" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_malformed_jepsen_and_kv_lines(tmp_path, corpus_dir):
    lines = (corpus_dir / "jepsen-etcd" / "etcd_000.log").read_text().splitlines()
    f = tmp_path / "j.log"
    f.write_text("\n".join(lines[:3] + ["INFO  jepsen.util - 3\t:ok\t:cas\t[3"]) + "\n")
    p = sb("--format", "jepsen-log", f)
    assert p.returncode == 2 and f"{f}:4:" in p.stderr
    k = tmp_path / "k.txt"
    k.write_text('{:process 1, :type :invoke, :f :get, :key "1", :value nil}\n{:process 1, :type :ok, :f :get, :key "1", :va\n')
    p = sb("--format", "porcupine-kv", "--model", "kv", k)
    assert p.returncode == 2 and f"{k}:2:" in p.stderr


def test_timeout_gives_unknown_exit_3(tmp_path):
    # Many concurrent writes and reads of rarely matching values: a big search space.
    from checker.synth import crowd

    ev = crowd(14, 26)
    t = ev[-1]["time"]
    ev.append({"process": 99, "type": "invoke", "f": "read", "key": "k", "time": t + 1})
    ev.append({"process": 99, "type": "ok", "f": "read", "key": "k", "value": 99, "time": t + 2})
    # Unique writes: the polynomial procedure decides it at once.
    fast = checker.check(ev, timeout=0.3, compiled=False)
    assert fast.valid is False and fast.partitions[0].method == "unique-values"
    # One value written twice: only the search applies, and it runs out of time.
    ev.insert(1, {"process": 98, "type": "invoke", "f": "write", "key": "k", "value": 0, "time": 1})
    ev.sort(key=lambda e: e["time"])
    r = checker.check(ev, timeout=0.3, compiled=False)
    assert r.valid == "unknown" and "time limit" in r.partitions[0].note
    f = jl(tmp_path, "slow.jsonl", ev)
    p = sb("--timeout", "0.3", f)
    assert p.returncode in (1, 3)  # the compiled search may finish within the limit
    if p.returncode == 3:
        assert "unknown" in p.stdout


def test_html_written_and_self_contained(tmp_path, corpus_dir):
    out = tmp_path / "v.html"
    p = sb("--format", "porcupine-kv", "--model", "kv", "--html", out, corpus_dir / "porcupine-kv" / "c10-bad.txt")
    assert p.returncode == 1
    doc = out.read_text()
    assert 'class="box witness"' in doc and 'class="sentence"' in doc and 'id="data"' in doc
    assert "http://" not in doc and "<script src" not in doc


def test_nemesis_events_ignored_and_delete(tmp_path):
    ev = W + [{"process": "nemesis", "type": "info", "f": "start-partition", "value": ["n1"], "time": 25},
              {"process": 1, "type": "invoke", "f": "delete", "key": "k", "time": 30},
              {"process": 1, "type": "ok", "f": "delete", "key": "k", "time": 31},
              {"process": 1, "type": "invoke", "f": "read", "key": "k", "time": 32},
              {"process": 1, "type": "ok", "f": "read", "key": "k", "value": None, "time": 33}]
    r = checker.check(ev)
    assert r.valid is True and r.ops == 3


def counter_step(state, inp, out):
    if inp[0] == "inc":
        return True, state + 1
    return out[1] == state, state


COUNTER = checker.Model(name="counter", init=int, step=counter_step, partition=lambda op: None)


def test_custom_python_model():
    ev = [{"process": 0, "type": "invoke", "f": "inc", "time": 1}, {"process": 0, "type": "ok", "f": "inc", "time": 2},
          {"process": 1, "type": "invoke", "f": "get", "time": 3}, {"process": 1, "type": "ok", "f": "get", "value": 1, "time": 4}]
    assert checker.check(ev, COUNTER).valid is True
    ev[-1]["value"] = 0
    assert checker.check(ev, COUNTER).valid is False
