"""An in-process Raft cluster on a simulated network with a fake clock.

Each SimNode plays the node's part of the Ready contract: it "persists"
entries, hard state and snapshots into plain Python values, applies committed
entries to a toy state machine (the list of applied payloads), and can be
restarted from exactly what it persisted. The Network delivers messages in
order unless told to cut, drop, duplicate or reorder them.
"""
from __future__ import annotations

import random

from reference_kv.raft import (
    Config, ConfState, EntryType, HardState, InitialState, Message, MsgType, RawNode,
    decode_conf_change,
)


class SimNode:
    def __init__(self, cfg: Config, seed: int):
        self.cfg = cfg
        self.id = cfg.id
        self.rng = random.Random(seed)
        # What survives a crash.
        self.hard = HardState()
        self.snap = None  # SnapshotMeta of the persisted snapshot
        self.snap_data: list = []  # state machine at the snapshot
        self.log: list = []  # persisted entries after the snapshot
        self.conf = ConfState()
        # Volatile: the state machine and what it applied.
        self.sm: list = []  # applied payloads, index i at position i-1 (snapshot prefix included)
        self.applied = 0
        self.read_states: list = []
        self.incoming_snap: dict = {}  # index -> state machine shipped with a SNAP
        self.rn = RawNode(cfg, InitialState(), self.rng)
        self.alive = True

    # --- the node's side of Ready ------------------------------------------
    def _persist_entries(self, ents) -> None:
        base = (self.snap.index if self.snap else 0) + 1
        keep = ents[0].index - base
        assert keep >= 0, (self.id, ents[0].index, base)
        del self.log[keep:]
        self.log.extend(ents)

    def drain(self) -> list[Message]:
        out: list[Message] = []
        rn = self.rn
        while rn.has_ready():
            rd = rn.ready()
            if rd.snapshot is not None:
                meta = rd.snapshot
                self.snap = meta
                self.snap_data = list(self.incoming_snap.pop(meta.index))
                self.sm = list(self.snap_data)
                self.applied = meta.index
                self.log = []
                self.conf = meta.conf
            if rd.entries:
                self._persist_entries(rd.entries)
            if rd.hard_state is not None:
                self.hard = rd.hard_state
            out.extend(rd.messages)
            for e in rd.committed_entries:
                assert e.index == self.applied + 1, (self.id, e.index, self.applied)
                if e.type == EntryType.CONF_CHANGE:
                    self.conf = rn.apply_conf_change(decode_conf_change(e.data))
                self.sm.append((e.term, e.data))
                self.applied = e.index
            self.read_states.extend(rd.read_states)
            rn.advance(rd)
        return out

    def take_snapshot(self) -> None:
        """Compact the log at the applied index, as the real node does every N entries."""
        if self.applied <= (self.snap.index if self.snap else 0):
            return
        i = self.applied
        base = (self.snap.index if self.snap else 0) + 1
        term = self.log[i - base].term
        from reference_kv.raft import SnapshotMeta
        meta = SnapshotMeta(i, term, self.conf)
        self.rn.compact(i, meta)
        del self.log[:i - base + 1]
        self.snap = meta
        self.snap_data = list(self.sm[:i])

    def restart(self) -> None:
        st = InitialState(self.hard, self.conf, self.snap, list(self.log), 0)
        self.rn = RawNode(self.cfg, st, self.rng)
        self.sm = list(self.snap_data)
        self.applied = self.snap.index if self.snap else 0
        self.read_states = []
        self.incoming_snap = {}
        self.alive = True

    @property
    def raft(self):
        return self.rn.raft


class Network:
    def __init__(self, n: int = 3, seed: int = 0, learners=(), **cfg):
        self.rng = random.Random(seed)
        ids = list(range(1, n + 1))
        self.nodes: dict[int, SimNode] = {}
        for i in ids:
            voters = tuple(x for x in ids if x not in learners)
            c = Config(id=i, peers=voters, learners=tuple(learners), **cfg)
            self.nodes[i] = SimNode(c, seed * 1000 + i)
        self.queue: list[Message] = []
        self.cut: set[tuple[int, int]] = set()
        self.drop_rate = 0.0
        self.dup_rate = 0.0
        self.reorder = False
        self.delivered = 0
        self.filter = None  # callable(Message) -> True to drop it

    def add_node(self, i: int, **cfg) -> SimNode:
        c = Config(id=i, **cfg)
        n = SimNode(c, self.rng.randrange(1 << 30))
        self.nodes[i] = n
        return n

    # --- faults -------------------------------------------------------------
    def isolate(self, i: int) -> None:
        for j in self.nodes:
            if j != i:
                self.cut.add((i, j))
                self.cut.add((j, i))

    def partition(self, *groups) -> None:
        for a in groups:
            for b in groups:
                if a is not b:
                    for i in a:
                        for j in b:
                            self.cut.add((i, j))

    def heal(self) -> None:
        self.cut.clear()

    def crash(self, i: int) -> None:
        self.nodes[i].alive = False

    def restart(self, i: int) -> None:
        self.nodes[i].restart()

    # --- driving ------------------------------------------------------------
    def collect(self) -> None:
        for n in self.nodes.values():
            if n.alive and n.rn.has_ready():
                for m in n.drain():
                    self.send(m)

    def send(self, m: Message) -> None:
        if m.type == MsgType.SNAP:
            # The node ships its latest checkpoint along with the SNAP message.
            src = self.nodes[m.frm]
            m = (m, list(src.snap_data))
        self.queue.append(m)

    def _lost(self, m: Message) -> bool:
        dst = self.nodes.get(m.to)
        return (dst is None or not dst.alive or (m.frm, m.to) in self.cut
                or (self.filter is not None and self.filter(m))
                or (self.drop_rate and self.rng.random() < self.drop_rate))

    def deliver_one(self, item) -> None:
        m, data = item if isinstance(item, tuple) else (item, None)
        if self._lost(m):
            if m.type == MsgType.SNAP and self.nodes[m.frm].alive:
                self.nodes[m.frm].rn.report_snapshot(m.to, False)
            return
        dst = self.nodes[m.to]
        if data is not None:
            dst.incoming_snap[m.snapshot.index] = data
        self.delivered += 1
        dst.rn.step(m)
        if m.type == MsgType.SNAP and self.nodes[m.frm].alive:
            self.nodes[m.frm].rn.report_snapshot(m.to, True)
        if self.dup_rate and self.rng.random() < self.dup_rate and m.type != MsgType.SNAP:
            dst.rn.step(m)

    def deliver(self, max_rounds: int = 1000) -> int:
        """Deliver until nothing is in flight; returns the number of rounds."""
        rounds = 0
        self.collect()
        while self.queue and rounds < max_rounds:
            q, self.queue = self.queue, []
            if self.reorder:
                self.rng.shuffle(q)
            for item in q:
                self.deliver_one(item)
            self.collect()
            rounds += 1
        return rounds

    def tick(self, n: int = 1, deliver: bool = True) -> None:
        for _ in range(n):
            for node in self.nodes.values():
                if node.alive:
                    node.rn.tick()
            if deliver:
                self.deliver()

    def campaign(self, i: int) -> None:
        self.nodes[i].rn.campaign()
        self.deliver()

    # --- views --------------------------------------------------------------
    def leaders(self) -> list[int]:
        return [i for i, n in self.nodes.items() if n.alive and n.rn.raft.role == 3]

    def leader(self) -> int:
        ls = self.leaders()
        assert len(ls) == 1, f"expected one leader, got {ls}"
        return ls[0]

    def elect(self, max_ticks: int = 200) -> int:
        for _ in range(max_ticks):
            self.tick()
            ls = [i for i in self.leaders() if self._is_current(i)]
            if len(ls) == 1:
                return ls[0]
        raise AssertionError("no leader elected within %d ticks" % max_ticks)

    def _is_current(self, i: int) -> bool:
        t = self.nodes[i].raft.term
        return all(n.raft.term <= t for n in self.nodes.values() if n.alive)

    def propose(self, data: bytes, at: int | None = None) -> int:
        i = at or self.leader()
        idx = self.nodes[i].rn.propose(data)
        self.deliver()
        return idx
