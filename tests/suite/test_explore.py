"""explore's pure parts: what it draws, how it shrinks, its index (no run is started here)."""
from __future__ import annotations

import json

import pytest

import workloads
from nemesis import faults
from splitbrain import explore
from splitbrain.config import RunConfig
from splitbrain.errors import UsageError

pytestmark = pytest.mark.unit


def _space(**kw):
    return explore.space(RunConfig(out="/nonexistent-explore-out").validate(), **kw)


def test_the_space_is_what_the_registries_say_runs_here():
    sp, refused = _space()
    names = {p.name for p in faults.catalogue()}
    assert set(sp.faults) | {n for n, _ in refused} == names and not set(sp.faults) & {n for n, _ in refused}
    # the local backend has no throttle; the reference KV's membership churn runs on it
    assert ("bandwidth", ["a backend that can throttle links"]) in refused
    assert "membership" in sp.faults
    assert sp.workloads == workloads.names()
    assert "local-unsafe" not in sp.read_modes and {"readindex", "lease", "follower"} <= set(sp.read_modes)
    sp, _ = _space(faults=("partition", "kill-one"), workloads=("append",), read_modes=("lease",))
    assert sp.faults == tuple(p.name for p in faults.catalogue() if p.family == "partition") + ("kill-one",)
    assert (sp.workloads, sp.read_modes) == (("append",), ("lease",))
    with pytest.raises(UsageError, match="'bandwidth' cannot run here"):
        _space(faults=("bandwidth",))
    with pytest.raises(UsageError, match="no read mode 'fast'"):
        _space(read_modes=("fast",))


def test_no_read_mode_stale_by_design_is_drawn():
    """etcd's serializable reads are answered from any member's own state: a violation there is no finding."""
    from splitbrain import systems

    etcd, refused = explore.space(RunConfig(system="etcd", out="/nonexistent-explore-out").validate())
    assert etcd.read_modes == ("linearizable",)
    # nor a clock fault that would not reach etcd's clock (Go reads it through the vDSO)
    assert not any(f.startswith("clock") for f in etcd.faults), etcd.faults
    assert any(n == "clock-skew" and "Go program" in " ".join(m) for n, m in refused), refused
    for name in systems.names():
        system = systems.create(name)
        assert set(system.stale_read_modes) < set(system.read_modes), name  # of its modes, and never all
    assert systems.create("reference-kv").stale_read_modes == ("local-unsafe",)


def test_a_run_is_drawn_from_the_seed_and_its_number_alone():
    sp = explore.Space(tuple(p.name for p in faults.catalogue())[:20], ("register", "append"), ("readindex", "lease"))
    base = RunConfig(time=10).validate()
    runs = [explore.draw(sp, base, 5, i) for i in range(60)]
    assert runs == [explore.draw(sp, base, 5, i) for i in range(60)]
    assert runs != [explore.draw(sp, base, 6, i) for i in range(60)]
    for cfg in runs:
        assert 1 <= len(cfg.nemesis) <= explore.MAX_FAULTS and set(cfg.nemesis) <= set(sp.faults)
        assert list(cfg.nemesis) == sorted(cfg.nemesis, key=sp.faults.index) and len(set(cfg.nemesis)) == len(cfg.nemesis)
        assert cfg.nemesis_mode == "combined" and cfg.time == 10
        assert cfg.nemesis_interval in explore.INTERVALS and cfg.fault_duration in explore.DURATIONS
        # a drawn config is a config `run --config` takes
        assert RunConfig.from_dict(json.loads(json.dumps(cfg.to_json()))).validate() == cfg
    assert {c.workload for c in runs} == {"register", "append"} and {c.read_mode for c in runs} == {"readindex", "lease"}
    assert len({f for c in runs for f in c.nemesis}) == 20  # every fault gets drawn
    assert len({len(c.nemesis) for c in runs}) == explore.MAX_FAULTS


@pytest.mark.parametrize("culprits,expect", [
    ((), ()),  # fails with no fault at all
    (({"b"},), ("b",)),  # one fault alone
    (({"a", "c"},), ("a", "c")),  # a pair: neither alone
    (({"a", "c", "d"},), ("a", "c", "d")),
    (({"b", "d"}, {"a"}), ("a",)),  # two ways to fail: the fewest found
    (({"b", "d"}, {"c", "d"}), ("c", "d")),
])
def test_shrink_finds_a_smallest_failing_set(culprits, expect):
    tried = []

    def fails(fs):
        tried.append(fs)
        return not culprits or any(c <= set(fs) for c in culprits)

    got = explore.shrink(("a", "b", "c", "d"), fails)
    assert got == expect
    assert tried[0] == ()  # none at all is tried first
    assert len(tried) <= 1 + 4 + 3 + 2  # none, each alone, then one dropped at a time
    for f in got:  # 1-minimal: dropping any one fault passes
        assert not fails(tuple(x for x in got if x != f)) or not got


def test_a_violation_that_never_comes_back_keeps_all_its_faults():
    assert explore.shrink(("a", "b", "c"), lambda fs: False) == ("a", "b", "c")


def test_the_index_is_rebuilt_from_its_lines_and_the_run_directories(tmp_path):
    d = tmp_path / "explore"
    (d / explore.RUNS).mkdir(parents=True)
    summary = {"valid": False, "verdict": "not linearizable", "ops": {"ok": 120}, "election_ms": {"count": 2},
               "no_quorum_s": 1.25, "unavailable_s": 0.5,
               "nemesis": [{"fault": "kill-one", "phase": "start"}, {"fault": "kill-one", "phase": "stop"},
                           {"fault": None, "phase": "stop"}]}
    cfg = RunConfig(nemesis=("kill-one", "clock-skew"), seed=9).to_json()
    first = explore.row(d / explore.RUNS / "r1", cfg, {**summary, "valid": True, "verdict": "linearizable"},
                        "explore", 12.3)
    (d / explore.INDEX).write_text(json.dumps(first) + "\n" + '{"run": "torn')  # a kill tore the last line
    run2 = d / explore.RUNS / "r2"  # finished, but killed before its line
    run2.mkdir()
    (run2 / "config.json").write_text(json.dumps(cfg))
    (run2 / "summary.json").write_text(json.dumps(summary))
    (d / explore.RUNS / "r3").mkdir()  # killed during the run: no summary, no line
    (d / explore.PARAMS).write_text(json.dumps({"faults": ["kill-one", "clock-skew", "pause-one"], "shrunk": [
        {"from": "r2", "faults": ["kill-one"], "reproduced": 2, "attempts": 3, "config": "runs/r2/config.json"}]}))
    rows = explore.write_index(d)
    assert [r["run"] for r in rows] == ["r1", "r2"]
    assert rows[1]["started"] == ["kill-one"] and rows[1]["faults"] == ["kill-one", "clock-skew"]
    text = (d / explore.INDEX_TEXT).read_text()
    assert text.splitlines()[0] == "2 runs, 1/3 faults covered, 1 violation"
    assert "r2   explore  9     register  -          kill-one,clock-skew  120  VIOLATION  2          1.2" in text
    assert "shrunk: r2: fails with kill-one; reproduced 2/3 (rerun: splitbrain run --config runs/r2/config.json)" in text
    html = (d / explore.INDEX_HTML).read_text()
    assert '<a href="runs/r1/report.html">r1</a>' in html and '<tr class="explore bad">' in html


def test_the_reference_kv_offers_membership_only_where_its_node_can_be_restarted_empty():
    """Adding a member back restarts its node empty with --join: a backend that cannot kill and wipe a node
    gets no membership actions (so no membership fault is drawn there), leader transfer still."""
    from splitbrain.campaign import Cluster
    from splitbrain.systems.reference_kv import ReferenceKV

    class KillOnly:
        def kill(self, node): ...

    class KillAndWipe(KillOnly):
        def wipe(self, node): ...

    c = Cluster.__new__(Cluster)
    c.system = ReferenceKV()
    c.backend = KillOnly()
    assert c._admin("remove_member") is not None and c._admin("transfer_leader") is not None
    assert c._admin("add_member") is None
    c.backend = KillAndWipe()
    assert c._admin("add_member") is not None


def test_a_reference_kv_node_joins_only_while_it_is_being_added_back():
    from nemesis.types import Addr, NodeAddresses
    from splitbrain.systems.reference_kv import ReferenceKV

    kv = ReferenceKV()
    a = NodeAddresses("2", "127.0.0.1", Addr("127.0.0.1", 1), Addr("127.0.0.1", 2), {}, {}, {}, "data")
    [spec] = [s for s in kv.node_specs(3) if s.id == "2"]
    assert "--join" not in spec.argv(a)
    kv._joining.add("2")
    assert "--join" in spec.argv(a)
