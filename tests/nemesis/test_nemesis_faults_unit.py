"""Pure parts of the nemesis: grudges, target resolution, plans, package composition."""
from __future__ import annotations

import dataclasses
import random

import pytest

from nemesis import faults
from nemesis.faults import partition
from nemesis.faults.base import LANES, Context, resolve
from nemesis.schedule import plan, plan_combined

pytestmark = pytest.mark.unit
N3 = ["n1", "n2", "n3"]
N5 = ["n1", "n2", "n3", "n4", "n5"]


class FakeNodes:
    """Only nodes(): enough for target resolution, which touches nothing else."""

    def __init__(self, nodes):
        self._nodes = nodes

    def nodes(self):
        return list(self._nodes)


def reach(grudge, nodes):
    """Who hears whom after the grudge: (src, dst) pairs still open."""
    return {(s, d) for s in nodes for d in nodes if s != d and s not in grudge.get(d, frozenset())}


def test_halves_cut_everything_across_and_nothing_within():
    g = partition.halves(N5)
    assert reach(g, N5) == {(s, d) for grp in (["n1", "n2"], ["n3", "n4", "n5"]) for s in grp for d in grp if s != d}


def test_isolate_and_one_way():
    g = partition.isolate("n2", N3)
    assert reach(g, N3) == {("n1", "n3"), ("n3", "n1")}
    g = partition.one_way("n1", N3)
    assert reach(g, N3) == {("n2", "n1"), ("n3", "n1"), ("n2", "n3"), ("n3", "n2")}


def test_bridge_keeps_one_node_talking_to_both_sides():
    g = partition.bridge(N5)
    r = reach(g, N5)
    mid = "n3"
    assert all((mid, n) in r and (n, mid) in r for n in N5 if n != mid)
    assert ("n1", "n4") not in r and ("n5", "n2") not in r


@pytest.mark.parametrize("nodes", [N3, N5, N5 + ["n6", "n7"]])
def test_majorities_ring_each_node_hears_a_distinct_majority(nodes):
    g = partition.majorities_ring(nodes, random.Random(3))
    heard = {d: frozenset(set(nodes) - g[d]) for d in nodes}
    assert all(len(h) == len(nodes) // 2 + 1 and d in h for d, h in heard.items())
    assert len(set(heard.values())) == len(nodes)


def test_random_halves_is_seeded():
    assert partition.random_halves(N5, random.Random(1)) == partition.random_halves(N5, random.Random(1))


def test_resolve_targets():
    ctx = Context(FakeNodes(N5), rng=random.Random(0), leader=lambda: "n4")
    assert len(resolve("minority", ctx)) == 2 and len(resolve("majority", ctx)) == 3
    assert resolve("all", ctx) == N5
    assert resolve("leader", ctx) == ["n4"]
    assert "n4" not in resolve("followers", ctx)
    assert resolve(["n2"], ctx) == ["n2"]
    with pytest.raises(ValueError):
        resolve("most", ctx)
    with pytest.raises(ValueError):
        resolve(["n9"], ctx)
    ctx.leader = lambda: None
    assert resolve("leader", ctx) == []
    ctx.leader = None
    with pytest.raises(faults.FaultUnavailable):
        resolve("leader", ctx)


def test_plan_is_reproducible_paired_and_bounded():
    pk = faults.by_name(["partition-halves", "kill-one", "pause-one"])
    a = plan(pk, seed=42, duration=60, interval=3, fault_duration=2)
    assert a == plan(pk, seed=42, duration=60, interval=3, fault_duration=2)
    assert a != plan(pk, seed=43, duration=60, interval=3, fault_duration=2)
    assert a and a[-1].at <= 60
    for start, stop in zip(a[::2], a[1::2]):
        assert (start.action, stop.action) == ("start", "stop")
        assert start.fault == stop.fault and start.index == stop.index and start.at < stop.at
    assert len({s.fault for s in a}) == 3
    with pytest.raises(ValueError):
        plan([], seed=1, duration=10)


def test_packages_are_offered_only_where_the_backend_can():
    class OnlyKill(FakeNodes):
        def kill(self, node): ...

    names = {p.name for p in faults.available(OnlyKill(N3))}
    assert "kill-one" in names
    assert not any(n.startswith(("partition", "pause", "clock", "power")) for n in names)
    # leader faults also need the suite's leader() callback
    ctx = Context(OnlyKill(N3))
    assert "kill-leader" not in {p.name for p in faults.available(ctx)}
    ctx.leader = lambda: "n1"
    assert "kill-leader" in {p.name for p in faults.available(ctx)}


def test_compose_rejects_duplicates():
    p = faults.get("kill-one")
    with pytest.raises(ValueError):
        faults.compose(p, [p])


def test_every_fault_has_a_lane_and_faults_that_share_links_or_nodes_share_it():
    lanes = {p.name: p.lane for p in faults.catalogue()}
    assert set(lanes.values()) <= set(LANES)
    # restore_all heals every cut: two faults that cut links must never overlap, so one lane holds them all
    assert {lanes[p.name] for p in faults.catalogue() if p.acts_on_links} == {"links"}
    assert lanes["kill-one"] == lanes["pause-one"] == lanes["power-loss-one"] == lanes["stop-one"] == "nodes"
    assert lanes["clock-skew"] == "clock" and lanes["disk-full"] == "disk"
    assert lanes["membership"] == lanes["leader-transfer"] == "membership"
    with pytest.raises(ValueError, match="unknown lane"):
        dataclasses.replace(faults.get("kill-one"), lane_name="elsewhere")


def test_combined_plan_overlaps_lanes_never_faults_of_one_lane():
    pk = faults.by_name(["partition-halves", "partition-one", "kill-one", "pause-one", "clock-skew"])
    a = plan_combined(pk, seed=7, duration=60, interval=3, fault_duration=4)
    assert a == plan_combined(pk, seed=7, duration=60, interval=3, fault_duration=4)
    assert a != plan_combined(pk, seed=8, duration=60, interval=3, fault_duration=4)
    assert [s.at for s in a] == sorted(s.at for s in a) and a[-1].at <= 60
    starts = {s.index: s for s in a if s.action == "start"}
    stops = {s.index: s for s in a if s.action == "stop"}
    assert starts.keys() == stops.keys() == set(range(len(starts)))
    assert [starts[i].at for i in sorted(starts)] == sorted(s.at for s in starts.values())  # numbered as they start
    spans = [(starts[i].at, stops[i].at, starts[i].lane) for i in starts]
    assert all(starts[i].lane == stops[i].lane == faults.get(starts[i].fault).lane for i in starts)
    overlap = lambda x, y: x[0] < y[1] and y[0] < x[1]  # noqa: E731
    pairs = [(x, y) for x in spans for y in spans if x < y and overlap(x, y)]
    assert pairs and all(x[2] != y[2] for x, y in pairs)  # faults overlap, but only across lanes
    assert {s.lane for s in a} == {"links", "nodes", "clock"}


def test_a_lanes_draw_does_not_depend_on_the_other_lanes():
    """Shrinking drops faults: the faults left in the other lanes keep their times."""
    def lane(steps, name):
        return [(s.at, s.action, s.fault) for s in steps if s.lane == name]

    full = plan_combined(faults.by_name(["partition-halves", "kill-one", "clock-skew"]), seed=3, duration=40)
    fewer = plan_combined(faults.by_name(["partition-halves", "clock-skew"]), seed=3, duration=40)
    assert lane(full, "links") == lane(fewer, "links") and lane(full, "clock") == lane(fewer, "clock")
    assert not lane(fewer, "nodes")
    with pytest.raises(ValueError):
        plan_combined([], seed=1, duration=10)
    with pytest.raises(ValueError):
        plan_combined(faults.by_name(["kill-one"]), seed=1, duration=float("nan"))
