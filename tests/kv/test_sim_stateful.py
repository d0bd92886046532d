"""The real node under hypothesis: crashes that lose unsynced writes, restarts, partitions, pauses,
leader transfers and a member that loses its data and rejoins, with every acknowledged write and
every read checked (simworld.History). Also checked after every step: one leader per term, a node's
term never goes back across a crash, no node failed."""
from __future__ import annotations

import asyncio
import os

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule

from reference_kv.errors import KVError
from reference_kv.raft.types import Role
from simworld import History, SimMachine

pytestmark = pytest.mark.unit

KEYS = ("a", "b")


class NodeWorld(SimMachine):
    KEYS = KEYS

    @initialize(seed=st.integers(0, 2**16), n=st.sampled_from([3, 5]), lease=st.booleans())
    def setup(self, seed, n, lease):
        self.world(n=n, seed=seed, snapshot_every=8, request_timeout=1.0, read_mode="lease" if lease else "readindex")
        self.run(self.c.start_all())
        self.seq = 0
        self.history = History(KEYS)
        self.leaders: dict[int, int] = {}  # term -> leader
        self.terms: dict[int, int] = {}  # node -> highest term it reported

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
        self.run(self.history.write(key, value, lambda: self.c.nodes[lead].write("p", key, value, None, None)), 6)

    @rule(key=st.sampled_from(KEYS), mode=st.sampled_from(["readindex", "lease", "log", "follower"]),
          at=st.integers(0, 4))
    def read(self, key, mode, at):
        ids = sorted(self.c.nodes)
        if not ids:
            return
        node = self.c.nodes[ids[at % len(ids)]] if mode == "follower" else self.c.nodes.get(self._leader() or -1)
        if node is not None:
            self.run(self.history.read(key, lambda: node.read(key, mode), f"{mode} read at node {node.id}"), 6)

    # --- faults ------------------------------------------------------------------------------
    @rule(i=st.integers(0, 4))
    def crash(self, i):
        ids = sorted(self.c.nodes)
        if len(ids) > len(self.c.voters) // 2 + 1:  # keep a quorum of the living, mostly
            self.run(self.c.crash(ids[i % len(ids)]))

    @rule()
    def restart(self):
        self.start_down()

    @rule(split=st.integers(1, 4), i=st.integers(0, 4))
    def partition(self, split, i):
        ids = list(self.c.ids)
        k = split % len(ids)
        ids = ids[i % len(ids):] + ids[:i % len(ids)]
        self.c.net.heal()
        self.c.net.partition(ids[:k], ids[k:])

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

    @rule(i=st.integers(0, 4))
    def lose_data_and_rejoin(self, i):
        """A follower loses its data dir: restarted as it was it must not run as itself; the way
        back is remove, --join, learner, promote."""
        lead = self._leader()
        if lead is None or len(self.c.nodes) < len(self.c.voters):
            return
        w = sorted(j for j in self.c.nodes if j != lead)[i % (len(self.c.nodes) - 1)]
        self.run(self.c.crash(w))
        self.c.wipe(w)
        self.terms.pop(w, None)  # a member that lost its data comes back as a new one, from term 0
        try:
            self.run(self.c.start(w), 5)
        except (ValueError, asyncio.TimeoutError):
            pass  # refused, or still asking peers it cannot reach: either way not running as itself
        else:
            raise AssertionError(f"node {w} started as itself after losing its data")
        try:
            self.run(self.c.rejoin(w, timeout=20), 60)
            event("a node that lost its data rejoined")
        except (KVError, asyncio.TimeoutError, AssertionError, ValueError, KeyError, TypeError):
            pass  # the cluster was busy (faults): the node may stay out

    # --- invariants ---------------------------------------------------------------------------
    @invariant()
    def one_leader_per_term(self):
        for i, n in (self.c.nodes.items() if self.live() else ()):
            if n.role == Role.LEADER:
                prev = self.leaders.setdefault(n.term, i)
                assert prev == i, f"two leaders in term {n.term}: {prev} and {i}"

    @invariant()
    def terms_never_go_back(self):
        for i, n in (self.c.nodes.items() if self.live() else ()):
            if n.raw is not None:
                assert n.term >= self.terms.get(i, 0), f"node {i} went back from term {self.terms[i]} to {n.term}"
                self.terms[i] = n.term

    @invariant()
    def committed_entries_agree(self):
        """Below both commit indexes, two logs hold the same entries (by term)."""
        logs = []
        for n in (self.c.nodes.values() if self.live() else ()):
            if n.raw is not None:
                log = n.raw.raft.log
                logs.append((n.id, log.committed, {e.index: e.term for e in log.ents if e.index <= log.committed}))
        for a, ca, ea in logs:
            for b, cb, eb in logs:
                if a < b:
                    for i in set(ea) & set(eb):
                        assert ea[i] == eb[i], f"nodes {a} and {b} hold different committed entries at {i}"


NodeWorld.TestCase.settings = settings(max_examples=int(os.environ.get("SIM_EXAMPLES", "6")),
                                       stateful_step_count=30, deadline=None,
                                       suppress_health_check=list(HealthCheck))
TestNodeWorld = NodeWorld.TestCase
