"""The run's verdict and the figures beside it, from hand-made evidence with known answers:
no false "NOT LINEARIZABLE", no dead load or endless outage hidden behind normal numbers."""
import pytest

from splitbrain import analysis, summary_text, verdict

pytestmark = pytest.mark.unit
MS = 1_000_000
S = 1000 * MS


def ev(proc, typ, f, t_ms, key="k", value=None, **kw):
    return {"process": proc, "type": typ, "f": f, "key": key, "value": value, "time": int(t_ms * MS), **kw}


def nem(f, t_ms, value=None, **kw):
    return {"process": "nemesis", "type": "info", "f": f, "value": value, "time": int(t_ms * MS), **kw}


def rnd(t_ms, **nodes):
    return {"time": int(t_ms * MS), "nodes": nodes}


def named(leader, role="follower"):
    """A status answer from a probe that names the leader but gives no term."""
    return {"role": role, "leader": leader, "term": None}


def steady_ops(until_ms, every_ms=10, fs=("write", "read"), start_ms=0):
    out, p = [], 0
    for t in range(start_ms, until_ms, every_ms):
        f = fs[p % len(fs)]
        out += [ev(p, "invoke", f, t, value=p if f == "write" else None),
                ev(p, "ok", f, t + 2, value=p if f == "write" else None)]
        p += 1
    return out


# -- a probe without terms -------------------------------------------------------------------------------


def test_without_terms_a_change_of_the_agreed_leader_is_an_election_and_not_two_leaders():
    a = {"1": named("1", "leader"), "2": named("1"), "3": named("1")}
    # the old leader is cut off and still says it leads; the others elect 2
    cut = {"1": named("1", "leader"), "2": named(None), "3": named(None)}
    b = {"1": named("1", "leader"), "2": named("2", "leader"), "3": named("2")}
    samples = [rnd(t, **a) for t in range(0, 500, 20)] + [rnd(t, **cut) for t in range(500, 700, 20)] + \
              [rnd(t, **b) for t in range(700, 1000, 20)]
    h = analysis.from_events(steady_ops(1000) + [nem("start-partition", 480, {"grudge": {}},
                                                     fault="partition-leader", phase="start")])
    h.ops.sort(key=lambda o: o.call)
    s = analysis.summarize(h, samples, 3, {"valid": True})
    assert [(e["old"], e["new"], e["from"], e["ms"]) for e in s["elections"]] == [("1", "2", "fault", 220.0)]
    assert s["leaders_per_term"] == [] and s["leaders_per_term_ok"] == "unknown"
    assert s["verdict"] == "linearizable" and s["valid"] is True
    assert any(w["kind"] == "no-terms" for w in s["warnings"])
    # the same rounds with every term 0 (what the probe said before): still no election counted, as before
    zero = [{**r, "nodes": {n: {**st, "term": 0} for n, st in r["nodes"].items()}} for r in samples]
    assert analysis.elections(zero, 3) == []


def test_with_terms_two_leaders_in_one_term_make_the_run_unsafe_but_not_not_linearizable():
    samples = [rnd(0, a={"role": "leader", "term": 5}), rnd(20, a={"role": "follower", "term": 6}),
               rnd(40, b={"role": "leader", "term": 5})]
    s = analysis.summarize(analysis.from_events(steady_ops(100)), samples, 3, {"valid": True})
    assert s["verdict"] == verdict.UNSAFE and s["valid"] is False
    (r,) = s["reasons"]
    assert r["kind"] == "two-leaders" and r["nodes"] == ["a", "b"]
    assert "2 leaders in term 5: node a (0.00 s to 0.00 s) and node b (0.04 s to 0.04 s)" in r["text"]
    line = summary_text.short("run", s).splitlines()[0]
    assert line.startswith("verdict: UNSAFE: 2 leaders in term 5") and "the history is linearizable" in line
    assert "NOT LINEARIZABLE" not in summary_text.short("run", s)
    assert summary_text.exit_code(s) == 1


def test_not_linearizable_only_when_the_checker_found_a_violation():
    lin = {"valid": False, "failing": [{"key": "r1"}],
           "witnesses": [{"key": "r1", "sentence": "read() -> 3 at 1.0 s returned a value that write(4) had "
                                                   "overwritten", "ops": []}]}
    s = analysis.summarize(analysis.from_events(steady_ops(100)), [], 3, lin)
    assert s["verdict"] == verdict.NOT_LINEARIZABLE
    assert s["reasons"][0]["text"].startswith("1 key not linearizable; key r1: read() -> 3")
    for checked, word in ((True, "linearizable"), ("unknown", "unknown")):
        s = analysis.summarize(analysis.from_events(steady_ops(100)), [], 3, {"valid": checked})
        assert s["verdict"] == word and "NOT LINEARIZABLE" not in summary_text.short("run", s)


# -- a dead load, an outage that never ended ---------------------------------------------------------------


def test_a_load_that_died_is_flagged_and_throughput_is_over_the_configured_window():
    h = analysis.from_events(steady_ops(7800))
    load = analysis.Load(start=0, stop=60 * S, users=10, run_time=60.0,
                         died=[{"time": 7800 * MS + i, "user": i, "error": "Timeout('1 second')"} for i in range(10)])
    s = analysis.summarize(h, [], 3, {"valid": True}, load)
    assert s["verdict"] == "unknown" and s["valid"] == "unknown"
    (r,) = s["reasons"]
    assert r["text"] == "all 10 load users died, the first at 7.80 s: Timeout('1 second')"
    assert s["throughput_ops_s"] == pytest.approx(780 / 60, rel=0.01)  # not 100/s over the 7.8 s that ran
    assert s["load"]["window_s"] == 60.0
    # nothing was attempted after they died: that is no outage of the system
    assert all(not a["never_recovered"] for a in s["availability"].values())
    # some users dying is a warning, the verdict stands
    load.died = load.died[:3]
    s = analysis.summarize(h, [], 3, {"valid": True}, load)
    assert s["verdict"] == "linearizable"
    assert [w["text"] for w in s["warnings"] if w["kind"] == "load-died"] == [
        "3 of 10 load users died, the first at 7.80 s: Timeout('1 second')"]


def test_an_outage_to_the_end_counts_in_full_never_recovered_and_absent_reads_do_not_hide_it():
    evs = steady_ops(8000)
    # after a coordinated crash at 8 s writes fail until the end; reads answer "absent" all along
    p = 10_000
    for t in range(8000, 20000, 10):
        f = "write" if p % 2 else "read"
        evs += [ev(p, "invoke", f, t, value=p if f == "write" else None),
                ev(p, "fail" if f == "write" else "ok", f, t + 2, value=p if f == "write" else None,
                   **({"error": "unavailable"} if f == "write" else {}))]
        p += 1
    evs.append(nem("kill", 7990, {"down": ["1", "2", "3"]}, fault="kill-all", phase="start"))
    evs.sort(key=lambda e: e["time"])
    load = analysis.Load(start=0, stop=20 * S, users=2, run_time=20.0)
    s = analysis.summarize(analysis.from_events(evs), [], 3, {"valid": True}, load)
    assert s["availability"]["write"]["never_recovered"] is True
    assert s["availability"]["write"]["unavailable_s"] == pytest.approx(12.0, abs=0.02)
    assert s["availability"]["read"]["unavailable_s"] == 0
    assert s["unavailable_s"] == pytest.approx(12.0, abs=0.02) and s["unavailable_kind"] == "write"
    assert s["never_recovered"] == 1 and s["recoveries"][0]["ms"] is None
    text = summary_text.short("run", s)
    assert "unavailable: write 12.0" in text and "(never recovered)" in text
    assert "never recovered after 1 fault" in text
    assert any(w["kind"] == "never-recovered" and w["kinds"] == ["write"] for w in s["warnings"])


def test_recovery_is_measured_from_when_a_quorum_was_possible_again():
    evs = steady_ops(2000)
    p = 5000
    for t in range(2000, 6000, 10):  # writes time out while the ring is on
        evs += [ev(p, "invoke", "write", t, value=p), ev(p, "info", "write", t + 5, value=p)]
        p += 1
    evs += steady_ops(8000, start_ms=6000)
    for e in evs[-(8000 - 6000) // 10 * 2:]:
        e["process"] += 100_000
        if e["f"] == "write":
            e["value"] += 100_000
    ring = {"1": ["3"], "2": ["1"], "3": ["2"]}
    evs += [nem("start-partition", 2000, {"grudge": ring}, fault="partition-majorities-ring", phase="start"),
            nem("heal", 5900, {}, fault="partition-majorities-ring", phase="stop")]
    evs.sort(key=lambda e: e["time"])
    nodes = [rnd(0, **{n: None for n in "123"})]  # the cluster's members, as the monitor names them
    s = analysis.summarize(analysis.from_events(evs), nodes, 3, {"valid": True})
    (r,) = s["recoveries"]
    assert r["from"] == "quorum" and r["measured_from"] == 5900 * MS
    assert r["ms"] == pytest.approx(102.0)  # the first write invoked after the heal, at 6.0 s, done at 6.002 s


def test_cas_mismatches_are_not_failures_in_the_summary_line():
    evs = [ev(0, "invoke", "cas", 0, value=[1, 2]), ev(0, "fail", "cas", 1, value=[1, 2])]
    s = analysis.summarize(analysis.from_events(evs), [], 3, {"valid": True})
    assert "0 fail, 0 info, 1 cas mismatch" in summary_text.short("run", s)


@pytest.mark.parametrize("terms", [False, True])
def test_a_leader_switch_seen_between_two_rounds_is_an_election(terms):
    """The probe may see the old agreement in one round and the new one in the next (the followers
    move over at once): that is an election too, measured from the fault if one just started, else
    from the last round that saw the old leader."""
    def st(leader, role="follower", term=None):
        return {"role": role, "leader": leader, "term": term if terms else None}

    a = {"1": st("1", "leader", 3), "2": st("1", term=3), "3": st("1", term=3)}
    b = {"1": st("1", "leader", 3), "2": st("2", "leader", 4), "3": st("2", term=4)}
    samples = [rnd(t, **a) for t in range(0, 480, 20)] + [rnd(t, **b) for t in range(480, 700, 20)]
    (e,) = analysis.elections(samples, 3)
    assert (e["old"], e["new"], e["from"], e["ms"]) == ("1", "2", "lost", 20.0)
    fault = [analysis.NemesisEvent(400 * MS, "start-partition", None, "partition-leader", "start")]
    (e,) = analysis.elections(samples, 3, fault)
    assert (e["from"], e["ms"]) == ("fault", 80.0)
    # a slow failure detector: the partition began long before the switch and is still on
    slow = [analysis.NemesisEvent(-3000 * MS, "start-partition", None, "partition-leader", "start"),
            analysis.NemesisEvent(900 * MS, "heal", None, "partition-leader", "stop")]
    (e,) = analysis.elections(samples, 3, slow)
    assert (e["from"], e["ms"]) == ("fault", 3480.0)
    # a fault that was over well before the switch explains nothing
    over = [analysis.NemesisEvent(-3000 * MS, "start-partition", None, "partition-leader", "start"),
            analysis.NemesisEvent(-2000 * MS, "heal", None, "partition-leader", "stop")]
    (e,) = analysis.elections(samples, 3, over)
    assert (e["from"], e["ms"]) == ("lost", 20.0)
