"""When a quorum was possible, over every partition shape the nemesis draws (the
real grudge functions), kills and pauses, and their overlaps; and the summary
that measures elections from the moment a quorum became possible."""
import random

import pytest

from nemesis.faults import partition
from splitbrain import analysis, quorum, summary_text

pytestmark = pytest.mark.unit
MS = 1_000_000
S = 1_000_000_000


def possible(nodes, grudge=None, down=()):
    return quorum.quorum_possible(nodes, quorum.cut_links(grudge or {}), frozenset(down))


N3 = ["1", "2", "3"]
N4 = ["1", "2", "3", "4"]
N5 = ["1", "2", "3", "4", "5"]


@pytest.mark.parametrize("nodes, grudge, expected", [
    (N3, {}, True),
    (N3, partition.halves(N3), True),                         # 1 | 2 3
    (N4, partition.halves(N4), False),                        # 2 | 2: no side is a majority
    (N5, partition.halves(N5), True),                         # 2 | 3
    (N5, partition.random_halves(N5, random.Random(4)), True),
    (N3, partition.isolate("2", N3), True),
    (N5, partition.isolate("5", N5), True),
    (N3, partition.bridge(N3), True),                         # the bridge hears both sides
    (N5, partition.bridge(N5, random.Random(1)), True),
    (N3, partition.majorities_ring(N3), False),               # a one-way ring: no pair talks both ways
    (N3, partition.majorities_ring(N3, random.Random(7)), False),
    (N4, partition.majorities_ring(N4), True),                # each node talks with its two neighbours
    (N5, partition.majorities_ring(N5), True),                # a leader with both its ring neighbours
    (N3, partition.one_way("1", N3), True),                   # 2 and 3 still talk
    (N3, partition.complete([["1"], ["2"], ["3"]]), False),
    (N5, partition.complete([["1", "2"], ["3", "4"], ["5"]]), False),
])
def test_partition_shapes(nodes, grudge, expected):
    assert possible(nodes, grudge) is expected


def test_one_way_cuts_count_in_either_direction():
    # 1 drops 2 and 3 drops 2: 2 hears everyone but nobody hears 2; 1 and 3 still make a majority.
    assert possible(N3, {"1": ["2"], "3": ["2"]})
    # add 1 -> 3 cut one way: no pair left that talks both ways
    assert not possible(N3, {"1": ["2"], "3": ["2", "1"]})


def test_nodes_down_take_no_part():
    assert possible(N3, down={"1"})
    assert not possible(N3, down={"1", "2"})
    assert not possible(N3, partition.isolate("2", N3), down={"3"})  # 1 up alone with 3 down and 2 cut off
    assert possible(N5, partition.isolate("5", N5), down={"1"})


def ev(t_ms, f, value=None, fault=None, phase=None):
    return analysis.NemesisEvent(int(t_ms * MS), f, value, fault, phase)


def ring_start(t_ms, nodes=N3):
    g = partition.majorities_ring(nodes)
    return ev(t_ms, "start-partition", {"grudge": {k: sorted(v) for k, v in g.items()}},
              "partition-majorities-ring", "start")


def test_intervals_follow_starts_stops_and_the_final_heal():
    events = [
        ev(0, "nemesis-start", {"seed": 1}),
        ring_start(1000),
        ev(4900, "heal", {"healed": {}}, "partition-majorities-ring", "stop"),
        ev(6000, "kill", {"targets": "all", "nodes": N3, "down": N3}, "kill-all", "start"),
        ev(6500, "restart", {"nodes": N3}, "kill-all", "stop"),
        ev(7000, "kill", {"targets": "one", "nodes": ["3"], "down": ["3"]}, "kill-one", "start"),  # a majority
        ev(7100, "start-partition", {"grudge": {"1": ["2"], "2": ["1"]}}, "partition-halves", "start"),
        ev(7900, "heal", {"links": "reset", "restarted": ["3"]}, None, "stop"),  # the final heal ends both
    ]
    out = quorum.no_quorum_intervals(events, N3)
    assert [(iv["start"] // MS, iv["end"] // MS, iv["faults"]) for iv in out] == [
        (1000, 4900, ["partition-majorities-ring"]),
        (6000, 6500, ["kill-all"]),
        (7100, 7900, ["kill-one", "partition-halves"]),
    ]


def test_an_interval_open_at_the_end_closes_at_the_end():
    out = quorum.no_quorum_intervals([ring_start(1000)], N3, end=3000 * MS)
    assert [(iv["start"] // MS, iv["end"] // MS) for iv in out] == [(1000, 3000)]


def test_a_grudge_naming_a_node_outside_the_list_adds_it():
    # members named only by the grudge: 1 and 2 cut from each other, 3 unknown until named
    out = quorum.no_quorum_intervals([ev(10, "start-partition", {"grudge": {"1": ["2", "3"], "2": ["1", "3"],
                                                                            "3": ["1", "2"]}}, "p", "start")],
                                     ["1", "2"], end=20 * MS)
    assert len(out) == 1


def rnd(t_ms, **nodes):
    return {"time": int(t_ms * MS), "nodes": nodes}


def st(role, term, leader):
    return {"role": role, "term": term, "leader": leader}


def test_a_majorities_ring_run_reports_no_quorum_time_and_elections_from_the_heal():
    """A 3-node run's shape: the ring starts at 2 s, nobody can be elected until the heal
    at 5.9 s, a leader is agreed 120 ms later. The election is 120 ms, not 3.9 s."""
    events = [{"process": "nemesis", "type": "info", "f": "nemesis-start", "value": {"seed": 1}, "time": 0}]
    for i in range(20):  # client ops all along
        t = i * 400
        events += [{"process": i, "type": "invoke", "f": "write", "key": "k", "value": i, "time": t * MS},
                   {"process": i, "type": "ok", "f": "write", "key": "k", "value": i, "time": (t + 5) * MS}]
    g = {k: sorted(v) for k, v in partition.majorities_ring(N3).items()}
    events += [
        {"process": "nemesis", "type": "info", "f": "start-partition", "value": {"grudge": g},
         "fault": "partition-majorities-ring", "phase": "start", "time": 2000 * MS},
        {"process": "nemesis", "type": "info", "f": "heal", "value": {"healed": g},
         "fault": "partition-majorities-ring", "phase": "stop", "time": 5900 * MS},
        {"process": "nemesis", "type": "info", "f": "heal", "value": {"links": "reset"}, "phase": "stop",
         "time": 5901 * MS},
    ]
    events.sort(key=lambda e: e["time"])
    h = analysis.from_events(events)
    agreed1 = {"1": st("leader", 1, "1"), "2": st("follower", 1, "1"), "3": st("follower", 1, "1")}
    samples = [rnd(t, **agreed1) for t in range(0, 2200, 100)]
    # the old leader loses its followers' agreement; candidates churn terms while nobody can win
    samples += [rnd(t, **{"1": st("leader", 1, "1"), "2": st("candidate", 2 + t // 1000, None),
                          "3": st("candidate", 2 + t // 1000, None)}) for t in range(2200, 6000, 100)]
    agreed2 = {"1": st("follower", 7, "2"), "2": st("leader", 7, "2"), "3": st("follower", 7, "2")}
    samples += [rnd(t, **agreed2) for t in range(6020, 8000, 100)]

    s = analysis.summarize(h, samples, 3, {"valid": True})
    assert s["no_quorum_s"] == 3.9
    assert [(iv["start"] // MS, iv["end"] // MS, iv["faults"]) for iv in s["no_quorum"]] == [
        (2000, 5900, ["partition-majorities-ring"])]
    assert [(e["from"], e["lost"] // MS, e["ms"]) for e in s["elections"]] == [("quorum", 5900, 120.0)]
    assert s["election_ms"]["max"] == 120.0
    assert "no quorum possible: 3.9 s, partition-majorities-ring" in summary_text.short("run", s)
    # without the quorum analysis the same samples give a 3.9 s election measured from the fault
    assert analysis.elections(samples, 3, h.nemesis)[0]["ms"] == 4020.0


def test_summary_without_faults_says_zero():
    s = analysis.summarize(analysis.from_events([]), [], 3, {"valid": True})
    assert s["no_quorum_s"] == 0 and s["no_quorum"] == []
    assert "no quorum possible: 0.0 s" in summary_text.short("run", s)
