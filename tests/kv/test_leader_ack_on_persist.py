"""The core's leader_ack_on_persist mode, which the node's storage pipeline relies on.

The node replicates while the leader's own write is still in flight, so the
leader's copy may count towards commit only once the node says it is synced.
"""
from __future__ import annotations

import random

import pytest
from raft.sim import Network, SimNode

class _AckingNode(SimNode):
    """Reports every Ready's entries as synced right after persisting them, as node.py does."""

    def drain(self):
        out = []
        rn = self.rn
        while rn.has_ready():
            rd = rn.ready()
            marks = (rd.entries[-1].index, rd.entries[-1].term) if rd.entries else None
            self._handle(rd, out)
            if marks is not None:
                rn.persisted(*marks)
        return out

    def _handle(self, rd, out):
        # SimNode.drain's body for one Ready, reused through a one-Ready shim.
        rn = self.rn
        one = _OneReady(rn, rd)
        self.rn = one
        try:
            out.extend(SimNode.drain(self))
        finally:
            self.rn = rn


class _OneReady:
    """Looks like the RawNode to SimNode.drain but hands out just the given Ready."""

    def __init__(self, rn, rd):
        self._rn, self._rd = rn, rd

    def has_ready(self):
        return self._rd is not None

    def ready(self):
        rd, self._rd = self._rd, None
        return rd

    def __getattr__(self, name):
        return getattr(self._rn, name)


def _network(seed: int, acking: bool) -> Network:
    net = Network(3, seed, leader_ack_on_persist=True)
    if acking:
        for i, n in list(net.nodes.items()):
            net.nodes[i] = _AckingNode(n.cfg, seed * 1000 + i)
    return net


@pytest.mark.unit
def test_leader_copy_counts_only_once_reported_synced():
    net = _network(1, acking=False)
    lead = net.elect()
    follower = next(i for i in net.nodes if i != lead)
    other = next(i for i in net.nodes if i not in (lead, follower))
    net.isolate(other)
    leader = net.nodes[lead]
    before = leader.raft.log.committed
    idx = net.propose(b"x", at=lead)
    # One follower has it; the leader's own copy is unsynced: no majority yet.
    assert leader.raft.log.committed == before
    leader.rn.persisted(idx, leader.raft.term)
    net.deliver()
    assert leader.raft.log.committed == idx
    assert (leader.raft.term, b"x") in leader.sm


@pytest.mark.unit
def test_stale_persist_reports_change_nothing():
    net = _network(2, acking=False)
    lead = net.elect()
    leader = net.nodes[lead]
    net.isolate(next(i for i in net.nodes if i != lead))
    net.isolate(next(i for i in reversed(list(net.nodes)) if i != lead))
    idx = leader.rn.propose(b"y")
    committed = leader.raft.log.committed
    leader.rn.persisted(idx, leader.raft.term - 1)  # written under an older term: not this entry
    leader.rn.persisted(idx + 5, leader.raft.term)  # beyond the log
    assert leader.raft.log.committed == committed
    assert leader.raft.prs[lead].match < idx


@pytest.mark.unit
@pytest.mark.parametrize("seed", range(40))
def test_no_two_nodes_apply_different_entries_at_one_index(seed):
    """Lossy, reordering network with crashes: applied logs agree wherever they overlap."""
    net = _network(seed, acking=True)
    rng = random.Random(seed)
    net.drop_rate = 0.05
    net.reorder = True
    proposed = 0
    for step in range(400):
        r = rng.random()
        if r < 0.03:
            victim = rng.choice(list(net.nodes))
            if net.nodes[victim].alive:
                net.crash(victim)
            else:
                net.restart(victim)
        elif r < 0.05:
            net.heal()
            net.isolate(rng.choice(list(net.nodes)))
        elif r < 0.08:
            net.heal()
        elif r < 0.5:
            for i in net.leaders():
                try:
                    net.nodes[i].rn.propose(b"p%d" % proposed)
                    proposed += 1
                except Exception:
                    pass
        net.tick()
    applied = [n.sm for n in net.nodes.values()]
    for a in applied:
        for b in applied:
            n = min(len(a), len(b))
            assert a[:n] == b[:n], f"seed {seed}: applied logs diverge"
    assert max(len(a) for a in applied) > 1, f"seed {seed}: nothing committed"
