"""The pieces the campaigns are built from that need no cluster: the leaders-per-term and
commit-monotonicity checks, continuous clock-rate changes, the lease's drift bound, the new
workloads' names."""
from __future__ import annotations

import os
import random

import pytest

from nemesis.faults import Context, leader_clock
from reference_kv.raft import Config
from reference_kv.raft.core import Raft
from reference_kv.raft.config import InitialState
from splitbrain import analysis, bugs, systems


def _round(**nodes):
    return {"time": 0, "nodes": {n: (None if s is None else {"role": s[0], "term": s[1]}) for n, s in nodes.items()}}


@pytest.mark.unit
def test_two_leaders_in_one_term_are_reported_whenever_they_were_seen():
    samples = [_round(a=("leader", 2), b=("follower", 2), c=None),
               _round(a=None, b=("leader", 3), c=("follower", 3)),
               _round(a=("follower", 3), b=("follower", 3), c=("leader", 2))]
    assert analysis.leaders_per_term(samples) == [{"term": 2, "leaders": ["a", "c"]}]
    one_per_term = samples[:2]
    assert analysis.leaders_per_term(one_per_term) == []


@pytest.mark.unit
def test_a_leader_answer_with_the_old_term_just_before_the_new_one_is_not_a_second_leader():
    # etcd: node b, elected in term 10, first answers "leader" with its old term 7, then 10.
    samples = [_round(a=("leader", 7), b=("follower", 7)), _round(a=("follower", 8), b=("leader", 7)),
               _round(a=("follower", 10), b=("leader", 10))]
    assert analysis.leaders_per_term(samples) == []
    # the same claim followed by stepping down is a real second leader of term 7
    real = samples[:2] + [_round(a=("leader", 7), b=("follower", 8))]
    assert analysis.leaders_per_term(real) == [{"term": 7, "leaders": ["a", "b"]}]


@pytest.mark.unit
def test_a_run_with_two_leaders_in_a_term_is_invalid_even_if_linearizable():
    h = analysis.from_events([])
    samples = [_round(a=("leader", 5)), _round(b=("leader", 5))]
    summary = analysis.summarize(h, samples, 3, {"valid": True})
    assert summary["leaders_per_term_ok"] is False
    assert analysis.summarize(h, [], 3, {"valid": True})["leaders_per_term_ok"] == "unknown"


def _commits(*rounds):
    return [{"time": t, "nodes": {n: (None if c is None else {"role": "follower", "term": 1, "commit": c})
                                  for n, c in nodes.items()}} for t, nodes in enumerate(rounds)]


@pytest.mark.unit
def test_a_commit_index_that_goes_back_on_a_running_node_is_reported_but_not_across_a_restart():
    samples = _commits({"a": 5, "b": 5}, {"a": 9, "b": 7}, {"a": None, "b": 8}, {"a": 3, "b": 8}, {"a": 4, "b": 6})
    assert analysis.commit_regressions(samples) == [{"node": "b", "time": 4, "from": 8, "to": 6}]
    summary = analysis.summarize(analysis.from_events([]), samples[:4], 2, {"valid": True})
    assert summary["commit_monotonic_ok"] is True  # a's drop came after it stopped answering: a restart


class _ClockBackend:
    """Records what a fault writes to a node's libfaketime control file."""

    def __init__(self):
        self.lines = []

    def nodes(self):
        return ["n1"]

    def pid(self, node):
        return os.getpid()

    def set_clock(self, node, offset, rate):
        self.lines.append((offset, rate))


def _faked(offset, rate, elapsed):
    return offset + elapsed * rate  # libfaketime: time since start -> what the process sees


@pytest.mark.unit
def test_a_rate_change_continues_the_clock_instead_of_jumping():
    ctx = Context(_ClockBackend(), random.Random(0))
    leader_clock.set_rate(ctx, "n1", 0.5)
    leader_clock.set_rate(ctx, "n1", 1.0)
    (off1, r1), (off2, r2) = ctx.backend.lines
    e = leader_clock._seconds_since_start(os.getpid())
    # At the moment of each change the old and new lines show the same time (within the clock tick
    # of /proc's start time); without the offset a halving would move the clock back by e / 2.
    assert abs(_faked(off1, r1, e) - _faked(0.0, 1.0, e)) < 0.05
    assert abs(_faked(off2, r2, e) - _faked(off1, r1, e)) < 0.05
    assert (r1, r2) == (0.5, 1.0)


@pytest.mark.unit
def test_default_lease_ends_before_the_shortest_election_with_the_leader_clock_at_half_speed():
    cfg = Config(id=1, peers=(1, 2, 3), read_only="lease_based")
    lease = Raft(cfg, InitialState(), random.Random(0)).lease_ticks
    # followers grant votes after election_tick of their own ticks, one tick of phase earlier at worst
    assert lease / 0.5 < cfg.election_tick - 1
    bug = Config(id=1, peers=(1, 2, 3), read_only="lease_based", unsafe_bug="lease-no-drift-guard")
    assert Raft(bug, InitialState(), random.Random(0)).lease_ticks / 0.5 > cfg.election_tick


@pytest.mark.unit
@pytest.mark.parametrize("bug", bugs.CATALOGUE, ids=lambda b: b.name)
def test_every_campaign_names_a_workload_and_read_mode_the_suite_knows(bug, tmp_path):
    # (The workload classes themselves load only in the Locust process, which gevent-patches whoever imports it.)
    import workloads

    cfg = bugs.run_config(bug, seed=0, out=str(tmp_path))  # RunConfig.validate asks the tables
    assert cfg.workload in workloads.WORKLOADS
    assert cfg.read_mode is None or cfg.read_mode in systems.create("reference-kv").read_modes


@pytest.mark.unit
def test_with_an_incarnation_a_lost_sample_does_not_hide_a_regression_and_a_restart_is_no_regression():
    def rounds(*seq):
        return [{"time": t, "nodes": {"a": None if x is None else {"role": "follower", "term": 1, "commit": x[0],
                                                                   "incarnation": x[1]}}}
                for t, x in enumerate(seq)]

    lost = rounds((9, "p1"), None, (4, "p1"))
    assert analysis.commit_regressions(lost) == [{"node": "a", "time": 2, "from": 9, "to": 4}]
    restarted = rounds((9, "p1"), None, (4, "p2"), (5, "p2"))
    assert analysis.commit_regressions(restarted) == []
