"""The summary's numbers, computed from hand-made histories with known answers."""
import json

import pytest

from splitbrain import analysis

pytestmark = pytest.mark.unit
MS = 1_000_000


def ev(proc, typ, f, t_ms, key="k", value=None, **kw):
    return {"process": proc, "type": typ, "f": f, "key": key, "value": value, "time": int(t_ms * MS), **kw}


def nem(f, t_ms, value=None, **kw):
    return {"process": "nemesis", "type": "info", "f": f, "value": value, "time": int(t_ms * MS), **kw}


def test_pairs_invokes_with_completions_and_missing_completion_is_info():
    h = analysis.from_events([
        ev(0, "invoke", "write", 0, value=1), ev(1, "invoke", "read", 1),
        ev(0, "ok", "write", 5, value=1), ev(2, "invoke", "write", 6, value=2),
        ev(1, "fail", "read", 7, error="timeout"),
    ])
    assert [(o.process, o.status, o.end) for o in h.ops] == [(0, "ok", 5 * MS), (1, "fail", 7 * MS), (2, "info", None)]
    assert analysis.op_counts(h) == {"ok": 1, "fail": 1, "info": 1, "cas_mismatch": 0, "total": 3}


def test_a_cas_that_did_not_match_is_counted_apart_from_errors():
    h = analysis.from_events([
        ev(0, "invoke", "cas", 0, value=[1, 2]), ev(0, "fail", "cas", 1, value=[1, 2]),  # no error: mismatch
        ev(1, "invoke", "cas", 2, value=[1, 3]), ev(1, "fail", "cas", 3, value=[1, 3], error="not-leader"),
    ])
    assert analysis.op_counts(h) == {"ok": 0, "fail": 1, "info": 0, "cas_mismatch": 1, "total": 2}


def test_torn_last_line_is_counted_not_fatal(tmp_path):
    p = tmp_path / "history.jsonl"
    p.write_text(json.dumps(ev(0, "invoke", "read", 0)) + "\n" + json.dumps(ev(0, "ok", "read", 2, node="n1"))
                 + "\n{\"process\": 1, \"ty")
    h = analysis.load_history(p)
    assert len(h.ops) == 1 and h.ops[0].status == "ok" and h.torn is not None
    assert h.ops[0].node == "n1"  # the checker's pairing keeps which node served it


def test_a_bad_line_before_the_last_is_refused_with_its_place(tmp_path):
    from checker.history import HistoryError

    p = tmp_path / "history.jsonl"
    p.write_text(json.dumps(ev(0, "invoke", "read", 0)) + "\n{oops\n" + json.dumps(ev(0, "ok", "read", 2)) + "\n")
    with pytest.raises(HistoryError, match="history.jsonl:2"):
        analysis.load_history(p)


def test_recovery_is_fault_start_to_first_ok_write_invoked_after_it():
    h = analysis.from_events(sorted([
        ev(0, "invoke", "write", 90, value=1),   # invoked before the fault: does not count
        nem("kill", 100, fault="kill-one", phase="start"),
        ev(1, "invoke", "write", 110, value=2), ev(1, "info", "write", 1110, value=2),
        ev(2, "invoke", "write", 400, value=3), ev(2, "ok", "write", 450, value=3),
        ev(0, "ok", "write", 120, value=1),
        ev(3, "invoke", "read", 101), ev(3, "ok", "read", 102),  # reads do not count
        nem("start-failed", 500, {"fault": "kill-one", "error": "x"}, fault="kill-one"),  # started nothing
    ], key=lambda e: e["time"]))
    assert analysis.recovery_ms(h) == [350.0]


def test_unavailable_windows_find_the_gap():
    evs = []
    t = 0
    for i in range(100):
        evs += [ev(i, "invoke", "read", t), ev(i, "ok", "read", t + 1)]
        t += 10 if i != 50 else 2000
    h = analysis.from_events(evs)
    w = analysis.unavailable_windows(h)
    assert len(w) == 1 and (w[0][1] - w[0][0]) == 2000 * MS


def rnd(t_ms, **nodes):
    return {"time": int(t_ms * MS), "nodes": nodes}


def st(role, term, leader):
    return {"role": role, "term": term, "leader": leader}


def test_election_from_leader_loss_to_new_agreement():
    samples = [
        rnd(0, **{"1": st("leader", 1, 1), "2": st("follower", 1, 1), "3": st("follower", 1, 1)}),
        rnd(25, **{"1": None, "2": st("follower", 1, 1), "3": st("follower", 1, 1)}),  # leader killed
        rnd(150, **{"1": None, "2": st("candidate", 2, None), "3": st("follower", 1, 1)}),
        rnd(175, **{"1": None, "2": st("leader", 2, 2), "3": st("follower", 2, 2)}),
        rnd(200, **{"1": None, "2": st("leader", 2, 2), "3": st("follower", 2, 2)}),
    ]
    el = analysis.elections(samples, 3)
    assert [(e["old"], e["new"], e["ms"]) for e in el] == [("1", "2", 150.0)]
    # with a fault recorded just before, the detection time counts too
    el = analysis.elections(samples, 3, [analysis.NemesisEvent(10 * MS, "kill", None, "kill-leader", "start")])
    assert el[0]["ms"] == 165.0


def test_no_election_when_the_same_leader_is_seen_again():
    samples = [
        rnd(0, **{"1": st("leader", 1, 1), "2": st("follower", 1, 1), "3": st("follower", 1, 1)}),
        rnd(25, **{"1": None, "2": None, "3": st("follower", 1, 1)}),
        rnd(50, **{"1": st("leader", 1, 1), "2": st("follower", 1, 1), "3": st("follower", 1, 1)}),
    ]
    assert analysis.elections(samples, 3) == []


def test_nemesis_periods_follow_the_phases_the_schedule_wrote():
    h = analysis.from_events([
        nem("nemesis-start", 0, {"seed": 1}),
        nem("start-partition", 10, {"grudge": {}}, fault="partition-halves", phase="start"),
        nem("kill", 12, ["2"], fault="kill-one", phase="start"),
        nem("heal", 20, fault="partition-halves", phase="stop"),
        nem("restart", 25, ["2"], fault="kill-one", phase="stop"),
        nem("kill", 30, ["3"], fault="kill-one", phase="start"),
        nem("heal", 40, phase="stop"),  # the final heal: a stop of every fault still on
    ])
    assert [(p["fault"], p["start"] // MS, p["end"] // MS) for p in analysis.nemesis_periods(h)] == [
        ("partition-halves", 10, 20), ("kill-one", 12, 25), ("kill-one", 30, 40)]


def test_nothing_is_inferred_from_names_or_alternation():
    # `start-x` / `stop-x` names and a fault's alternating events once stood for phases: only `phase` does
    h = analysis.from_events([nem("start-partition", 10, fault="partition-halves"),
                              nem("stop-partition", 20, fault="partition-halves"), nem("heal", 45)])
    assert analysis.nemesis_periods(h) == [] and analysis.recovery_ms(h) == []


def test_quantiles_nearest_rank():
    q = analysis.quantiles([float(i) for i in range(1, 101)])
    assert (q["p50"], q["p95"], q["p99"], q["max"], q["count"]) == (50.0, 95.0, 99.0, 100.0, 100)
    assert analysis.quantiles([])["p50"] is None
