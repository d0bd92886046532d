"""Raft's safety claims as invariants of a hypothesis state machine, plus a seeded loop.

A failure of the state machine prints a minimal replay of events; a failure
of the loop names the seed, which `run_seed(seed, steps)` replays exactly.
"""
import os

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from .chaos import Chaos, run_seed

pytestmark = pytest.mark.unit


class RaftMachine(RuleBasedStateMachine):
    @initialize(n=st.sampled_from([3, 5]), seed=st.integers(0, 2**16),
                lease=st.booleans(), reorder=st.booleans())
    def setup(self, n, seed, lease, reorder):
        cfg = {"read_only": "lease_based"} if lease else {}
        self.ch = Chaos(n, seed=seed, **cfg)
        self.ch.net.reorder = reorder

    @rule(k=st.integers(1, 5))
    def tick(self, k):
        for _ in range(k):
            self.ch.tick()

    @rule(k=st.integers(1, 20))
    def deliver(self, k):
        self.ch.deliver(k)

    @rule()
    def deliver_all(self):
        self.ch.deliver_all()

    @rule()
    def drop(self):
        self.ch.drop()

    @rule()
    def duplicate(self):
        self.ch.duplicate()

    @rule()
    def partition(self):
        self.ch.partition()

    @rule()
    def heal(self):
        self.ch.heal()

    @rule(k=st.integers(1, 3))
    def propose(self, k):
        for _ in range(k):
            self.ch.propose()

    @rule()
    def read(self):
        self.ch.read()

    @rule()
    def restart(self):
        self.ch.restart()

    @rule()
    def snapshot(self):
        self.ch.snapshot()

    @rule()
    def member_change(self):
        self.ch.member_change()

    @rule()
    def transfer(self):
        self.ch.transfer()

    @precondition(lambda self: hasattr(self, "ch"))
    @invariant()
    def safety(self):
        self.ch.check()

    def teardown(self):
        if hasattr(self, "ch"):
            self.ch.heal()
            self.ch.deliver_all()
            self.ch.check()
            self.ch.check_log_matching()


RaftMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("RAFT_HYPOTHESIS_EXAMPLES", "150")),
    stateful_step_count=60, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRaftMachine = RaftMachine.TestCase


SEEDS = int(os.environ.get("RAFT_SIM_SEEDS", "2000"))
STEPS = int(os.environ.get("RAFT_SIM_STEPS", "150"))


@pytest.mark.parametrize("mode", ["safe", "lease_based"])
def test_seeded_simulation_keeps_every_safety_invariant(mode):
    served = commits = 0
    for seed in range(SEEDS // 4 if mode == "lease_based" else SEEDS):
        ch = run_seed(seed, STEPS, read_only=mode)
        served += ch.reads_served
        commits += ch.max_commit
    # The schedules must exercise reads and commits, or the invariants are empty.
    n = SEEDS // 4 if mode == "lease_based" else SEEDS
    assert served > n and commits > 5 * n, (served, commits)


def test_the_checks_catch_a_planted_readindex_bug():
    """The harness is not blind: the planted early-ReadIndex bug is caught."""
    caught = 0
    for seed in range(300):
        try:
            run_seed(seed, 300, unsafe_bug="readindex-before-term-commit")
        except AssertionError as e:
            assert "read ctx" in str(e)
            caught += 1
    assert caught > 0
