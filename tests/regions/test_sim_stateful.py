"""Real Region stores under hypothesis: splits and merges under writes and deletes, crashes that lose
unsynced writes, restarts, partitions, pauses; every acknowledged write and every read checked
(simworld.History), and one leader per term in every group."""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule

from reference_kv.errors import KVError
from reference_kv.raft.types import Role
from simworld import History, SimMachine

pytestmark = pytest.mark.unit

KEYS = tuple(f"k{i:02d}" for i in range(12))
FILL = "x" * 700  # values large enough that three or four keys split a Region


class StoreWorld(SimMachine):
    KEYS = KEYS
    SETTLE_S = 3.0

    @initialize(seed=st.integers(0, 2**16), lease=st.booleans())
    def setup(self, seed, lease):
        self.world(n=3, seed=seed, regions=True, split_size=2048, split_check_s=0.1, merge_size=1500,
                   merge_check_s=0.2, snapshot_every=10, request_timeout=1.0,
                   read_mode="lease" if lease else "readindex")
        self.run(self.c.start_all())
        self.seq = 0
        self.history = History(KEYS)
        self.leaders: dict[tuple[int, int], int] = {}  # (group, term) -> leader store

    def _owner_leader(self, key):
        """The store leading the Region that holds key, as the living stores see it."""
        for s in self.c.nodes.values():
            try:
                p = s._owner(key)
            except (RuntimeError, KVError):
                continue
            if p.role == Role.LEADER:
                return s
        return None

    # --- operations -------------------------------------------------------------------------
    @rule(key=st.sampled_from(KEYS), delete=st.booleans())
    def write(self, key, delete):
        s = self._owner_leader(key)
        if s is None:
            return
        self.seq += 1
        value = None if delete else f'"{self.seq}{FILL}"'.encode()
        self.run(self.history.write(key, value, lambda: s.write("d" if delete else "p", key, value, None, None)), 6)

    @rule(key=st.sampled_from(KEYS), mode=st.sampled_from(["readindex", "lease", "log", "follower"]),
          at=st.integers(0, 2))
    def read(self, key, mode, at):
        if mode == "follower":
            ids = sorted(self.c.nodes)
            s = self.c.nodes[ids[at % len(ids)]] if ids else None
        else:
            s = self._owner_leader(key)
        if s is not None:
            self.run(self.history.read(key, lambda: s.read(key, mode), f"{mode} read at store {s.id}"), 6)

    # --- faults ------------------------------------------------------------------------------
    @rule(i=st.integers(0, 2))
    def crash(self, i):
        ids = sorted(self.c.nodes)
        if len(ids) == 3:
            self.run(self.c.crash(ids[i]))

    @rule()
    def restart(self):
        self.start_down()

    @rule(i=st.integers(0, 2))
    def partition(self, i):
        self.c.net.heal()
        self.c.net.partition([self.c.ids[i]], [j for j in self.c.ids if j != self.c.ids[i]])

    # --- invariants ---------------------------------------------------------------------------
    @invariant()
    def one_leader_per_term_and_group(self):
        for i, s in (self.c.nodes.items() if self.live() else ()):
            for rid, p in s.peers.items():
                if p.role == Role.LEADER:
                    prev = self.leaders.setdefault((rid, p.term), i)
                    assert prev == i, f"two leaders of group {rid} in term {p.term}: stores {prev} and {i}"

    def after_final_reads(self):
        if self.c.nodes:
            s = next(iter(self.c.nodes.values()))
            event(f"{'split' if len(s.data_peers()) > 1 else 'one Region'}, {'merged' if s.merges else 'no merge'}")


StoreWorld.TestCase.settings = settings(max_examples=int(os.environ.get("SIM_EXAMPLES", "6")),
                                        stateful_step_count=40, deadline=None,
                                        suppress_health_check=list(HealthCheck))
TestStoreWorld = StoreWorld.TestCase
