"""Random fault schedules over the simulated cluster, checked by Raft's safety claims.

`Chaos` owns a `Network` and offers one method per kind of event; `check()`
asserts the invariants after any of them. The hypothesis state machine and the
seeded simulation loop both drive it.
"""
from __future__ import annotations

import random

from reference_kv.raft import ConfChange, ConfChangeType, NotLeader, ProposalDropped, RaftError
from reference_kv.raft.types import Role

from .sim import Network


class Chaos:
    def __init__(self, n: int = 3, seed: int = 0, **cfg):
        self.net = Network(n, seed=seed, **cfg)
        self.rng = random.Random(seed ^ 0x5EED)
        self.leader_of_term: dict[int, int] = {}
        self.applied: dict[int, tuple] = {}  # index -> (term, data) anyone applied
        self.checked: dict[int, int] = {i: 0 for i in self.net.nodes}  # per node: sm checked up to
        self.max_commit = 0
        self.max_commit_term = 0
        self.reads: dict[tuple[int, bytes], int] = {}  # (node, ctx) -> commit when requested
        self.reads_served = 0
        self.seq = 0
        self.lease = cfg.get("read_only") == "lease_based"
        self.cfg = cfg
        self.joined = 0

    # --- events ---------------------------------------------------------------
    def tick(self) -> None:
        self.net.tick(1, deliver=False)
        self.net.collect()

    def tick_one(self, i: int) -> None:
        """Clock drift: only one node's clock advances (not with leases: they assume bounded drift)."""
        if not self.lease and self.net.nodes[i].alive:
            self.net.nodes[i].rn.tick()
            self.net.collect()

    def deliver(self, k: int) -> None:
        q = self.net.queue
        for _ in range(min(k, len(q))):
            pos = self.rng.randrange(len(q)) if self.net.reorder else 0
            item = q.pop(pos)
            self.net.deliver_one(item)
            self.net.collect()

    def deliver_all(self) -> None:
        self.net.deliver(max_rounds=50)

    def drop(self) -> None:
        if self.net.queue:
            self.net.queue.pop(self.rng.randrange(len(self.net.queue)))

    def duplicate(self) -> None:
        q = self.net.queue
        if q:
            q.append(q[self.rng.randrange(len(q))])

    def partition(self) -> None:
        ids = list(self.net.nodes)
        self.rng.shuffle(ids)
        k = self.rng.randrange(1, len(ids))
        self.net.heal()
        self.net.partition(ids[:k], ids[k:])

    def heal(self) -> None:
        self.net.heal()

    def propose(self) -> None:
        ls = self.net.leaders()
        i = self.rng.choice(ls) if ls and self.rng.random() < 0.9 else self.rng.choice(list(self.net.nodes))
        node = self.net.nodes[i]
        self.seq += 1
        try:
            node.rn.propose(b"p%d" % self.seq)
        except (NotLeader, ProposalDropped):
            pass
        self.net.collect()

    def read(self) -> None:
        i = self.rng.choice(list(self.net.nodes))
        node = self.net.nodes[i]
        if not node.alive:
            return
        self.seq += 1
        ctx = b"r%d" % self.seq
        self._refresh_commit()
        try:
            node.rn.read_index(ctx)
        except RaftError:
            return
        self.reads[(i, ctx)] = self.max_commit
        self.net.collect()

    def restart(self) -> None:
        i = self.rng.choice(list(self.net.nodes))
        self.net.restart(i)
        self.checked[i] = min(self.checked[i], self.net.nodes[i].applied)
        for key in [k for k in self.reads if k[0] == i]:
            del self.reads[key]
        self.net.collect()

    def snapshot(self) -> None:
        i = self.rng.choice(list(self.net.nodes))
        if self.net.nodes[i].alive:
            self.net.nodes[i].take_snapshot()

    def transfer(self) -> None:
        ls = self.net.leaders()
        if ls:
            to = self.rng.choice(list(self.net.nodes))
            self.net.nodes[ls[0]].rn.transfer_leader(to)
            self.net.collect()

    def member_change(self) -> None:
        """Add a new node as learner, promote it, or remove a voter (one change at a time)."""
        ls = self.net.leaders()
        if not ls:
            return
        r = self.net.nodes[ls[0]].rn.raft
        if r.learners:
            cc = ConfChange(ConfChangeType.PROMOTE, self.rng.choice(sorted(r.learners)))
        elif len(r.voters) > 3 and self.rng.random() < 0.5:
            cc = ConfChange(ConfChangeType.REMOVE, self.rng.choice(sorted(r.voters)))
        elif self.joined < 2:
            i = max(self.net.nodes) + 1
            cc = ConfChange(ConfChangeType.ADD_LEARNER, i)
        else:
            return
        try:
            self.net.nodes[ls[0]].rn.propose_conf_change(cc)
        except ProposalDropped:
            return
        if cc.type == ConfChangeType.ADD_LEARNER:
            self.joined += 1
            self.net.add_node(cc.node_id, **self.cfg)
            self.checked[cc.node_id] = 0
        self.net.collect()

    # --- invariants -----------------------------------------------------------
    def _refresh_commit(self) -> None:
        for n in self.net.nodes.values():
            c = n.rn.raft.log.committed
            if c > self.max_commit:
                self.max_commit = c

    def check(self) -> None:
        nodes = self.net.nodes
        self._refresh_commit()
        for i, n in nodes.items():
            r = n.rn.raft
            if r.role == Role.LEADER and n.alive:
                # Election safety: at most one leader per term.
                prev = self.leader_of_term.setdefault(r.term, i)
                assert prev == i, f"two leaders in term {r.term}: {prev} and {i}"
            # State machine safety: nobody applies a different entry at an index.
            sm = n.sm
            if len(sm) != self.checked[i]:
                self._check_applied(i, sm)
            # ReadIndex safety: a read index covers everything committed before the read.
            if n.read_states:
                for rs in n.read_states:
                    want = self.reads.pop((i, rs.ctx), None)
                    if want is not None:
                        assert rs.index >= want, (
                            f"node {i} read ctx {rs.ctx!r} at index {rs.index} < {want} committed before it")
                        self.reads_served += 1
                n.read_states.clear()
        # Leader completeness: a leader holds every committed entry (checked at
        # the highest commit index; log matching covers the prefix).
        mc = self.max_commit
        if mc:
            term = self._term_at(mc)
            if term is not None:
                for i, n in nodes.items():
                    r = n.raft
                    if r.role == Role.LEADER and n.alive and r.term >= term:
                        lt = r.log.term_or_none(mc)
                        assert lt == term or (lt is None and mc <= r.log.snap_index), (
                            f"leader {i} of term {r.term} lacks committed entry {mc} (term {term}), has {lt}")

    def _check_applied(self, i: int, sm: list) -> None:
        applied = self.applied
        for idx in range(self.checked[i] + 1, len(sm) + 1):
            e = sm[idx - 1]
            prev = applied.setdefault(idx, e)
            assert prev == e, f"node {i} applied {e} at {idx}, another applied {prev}"
        self.checked[i] = len(sm)

    def _term_at(self, idx: int):
        for n in self.net.nodes.values():
            if n.raft.log.committed >= idx:
                t = n.raft.log.term_or_none(idx)
                if t is not None:
                    return t
        return None

    def check_log_matching(self) -> None:
        """Where two logs agree on an entry's term, they agree on everything before it."""
        logs = {}
        for i, n in self.net.nodes.items():
            log = n.raft.log
            logs[i] = (log.snap_index, {e.index: e for e in log.ents})
        ids = sorted(logs)
        for a in ids:
            for b in ids:
                if a >= b:
                    continue
                ea, eb = logs[a][1], logs[b][1]
                common = sorted(set(ea) & set(eb), reverse=True)
                agree = False
                for idx in common:
                    if agree:
                        assert ea[idx] == eb[idx], f"logs of {a} and {b} differ at {idx} below a common entry"
                    elif ea[idx].term == eb[idx].term:
                        assert ea[idx] == eb[idx], f"same term, different entry at {idx} in {a} and {b}"
                        agree = True


EVENTS = (
    ("tick", 30), ("deliver", 30), ("propose", 12), ("read", 6), ("drop", 3),
    ("duplicate", 3), ("partition", 2), ("heal", 3), ("restart", 1), ("snapshot", 2),
    ("transfer", 1), ("tick_one", 3), ("member_change", 3),
)


def run_seed(seed: int, steps: int, **cfg) -> Chaos:
    ch = Chaos(3 if seed % 3 else 5, seed=seed, **cfg)
    rng = random.Random(seed)
    ch.net.reorder = seed % 2 == 0
    names = [n for n, _ in EVENTS]
    weights = [w for _, w in EVENTS]
    ids = list(ch.net.nodes)
    for _ in range(steps):
        ev = rng.choices(names, weights)[0]
        if ev == "deliver":
            ch.deliver(rng.randrange(1, 8))
        elif ev == "tick_one":
            ch.tick_one(rng.choice(ids))
        else:
            getattr(ch, ev)()
        ch.check()
    ch.heal()
    for _ in range(3):
        ch.deliver_all()
        ch.check()
    ch.check_log_matching()
    return ch
