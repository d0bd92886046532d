"""A wiped store never votes with empty replicas (issue #14, defect 1 on Regions)."""
from __future__ import annotations

import pytest

from reference_kv.raft.types import Role
from reference_kv.sim import run
from reference_kv.sim.cluster import SimCluster
from simworld import restart_wiped_member

from .test_sim_store import _put, _region_leader

pytestmark = pytest.mark.unit


def test_a_wiped_store_does_not_vote_with_empty_replicas(tmp_path):
    """Issue #14 defect 1 on Regions: the wiped store bootstrapped the meta group and Region 1 afresh
    and voted with their empty logs."""
    async def main():
        c = SimCluster(tmp_path, 3, seed=12, regions=True, balance_s=0.0, merge_size=0)
        await c.start_all()
        a = await c.wait(lambda: _region_leader(c), what="a Region 1 leader")
        b, w = [i for i in c.ids if i != a]
        for k in range(3):
            await _put(c, a, f"k{k}", b"1")
        await c.wait(lambda: all(s.peers[1].applied == c.nodes[a].peers[1].applied for s in c.nodes.values()),
                     what="all caught up")
        c.net.partition([b], [a, w])
        assert await _put(c, a, "acked", b'"yes"') is True
        await c.crash(w)
        c.wipe(w)
        await restart_wiped_member(c, a, w, lambda: c.wait(lambda: _region_leader(c), timeout=5, what="a Region 1 leader"),
                                   lambda lead: c.nodes[lead].read("acked", "readindex"), ("remove",))
        assert not c.failures, c.failures
        await c.close()
    run(main())


def test_a_wiped_store_comes_back_by_remove_join_learner_promote(tmp_path):
    """The way back on Regions: the meta group's configuration says which stores there are, and every
    Region's leader follows it: remove, a store started with --join hosting nothing, learner replicas
    filled by snapshots, promotion once caught up; then it counts for every Region's quorum."""

    from reference_kv.regions import membership

    async def main():
        c = SimCluster(tmp_path, 3, seed=14, regions=True, balance_s=0.0, merge_size=0, split_size=4096,
                       split_check_s=0.1, snapshot_every=20)
        await c.start_all()

        op, owner = c.retry, c.key_leader

        def meta_leader():
            return next(s for s in c.nodes.values() if s.meta.role == Role.LEADER)

        value = b'"' + b"v" * 100 + b'"'
        for i in range(200):
            key = f"k{i:04d}"
            await op(lambda: owner(key).write("p", key, value, None, None))
        w = 3
        await c.crash(w)
        c.wipe(w)
        try:
            await c.start(w)
        except ValueError as e:
            assert "lost its data" in str(e) and "remove" in str(e), e
        else:
            raise AssertionError("the wiped store started as itself")
        await op(lambda: meta_leader().remove(w))
        live = [i for i in c.ids if i != w]
        await c.wait(lambda: all(membership.follows(p, w, c.nodes[i].membership.desired())
                                 for i in live for p in c.nodes[i].data_peers()), timeout=30,
                     what="every Region removed the store")
        for i in range(200, 260):  # while it is out: more data, more splits, logs compacted
            key = f"k{i:04d}"
            await op(lambda: owner(key).write("p", key, value, None, None))
        n = await c.start(w, join=True)
        await op(lambda: meta_leader().add_learner(w, c.address(w), f"sim-{w}:2"))
        await c.wait(lambda: n.meta is not None and not n.meta.uninit and n.meta.applied >= meta_leader().meta.applied,
                     timeout=30, what="the meta group reached the new store")
        await op(lambda: meta_leader().promote(w))
        await c.wait(lambda: len(n.data_peers()) == len(c.nodes[live[0]].data_peers()) and all(
            membership.follows(p, w, n.membership.desired()) and w in p.raw.status()["voters"]
            for p in n.data_peers()), timeout=60, what="every Region counts the store as a voter again")
        assert n.snapshots.installed >= len(n.data_peers())
        await c.crash(live[0])  # the rejoined store now makes the quorum of every Region, with all the data
        for i in range(260):
            key = f"k{i:04d}"
            assert await op(lambda: owner(key).read(key, "readindex")) == value, key
        assert not c.failures, c.failures
        await c.close()
    run(main())
