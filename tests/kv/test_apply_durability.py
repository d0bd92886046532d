"""A follower applies a committed entry only once its own log holds it durably; when a new leader
overwrites the follower's uncommitted suffix, the entries at those indexes on its disk are the old
ones until the overwrite is written (found reading node._round_done / _pump_applies, issue #14)."""
from __future__ import annotations

import asyncio

import pytest

from reference_kv.sim import run
from reference_kv.sim.cluster import SimCluster

pytestmark = pytest.mark.unit


def test_a_kill_between_apply_and_the_overwrite_of_the_log_leaves_a_node_that_restarts(tmp_path):
    async def main():
        c = SimCluster(tmp_path, 5, seed=51)
        old = await c.start_all()
        f = next(i for i in c.ids if i != old)
        rest = [i for i in c.ids if i not in (old, f)]
        c.net.partition([old, f], rest)
        loop = asyncio.get_running_loop()
        # The old leader appends entries that reach f but no majority: f's uncommitted suffix.
        pending = [loop.create_task(c.nodes[old].write("p", f"lost{k}", b"1", None, None)) for k in range(8)]
        await c.wait(lambda: c.nodes[f].raw.raft.log.last_index() > c.nodes[f].raw.raft.log.committed + 3,
                     what="an uncommitted suffix on f")
        await c.crash(old)
        c.net.heal()
        c.net.partition([f], rest)
        new = await c.wait_leader(among=rest)
        for k in range(2):  # committed among the rest, at indexes inside f's longer suffix
            await c.nodes[new].write("p", f"kept{k}", b"2", None, None)
        c.lanes[f]["log"].delay = lambda rng: 0.05  # f's disk is slow: each log write takes 50 ms
        c.net.heal()
        n = c.nodes[f]
        before = n.applied
        # The new leader's first append overwrites f's suffix and says the entries are committed:
        # f applies them while the overwrite still waits in its log lane ...
        await c.wait(lambda: n.applied > before, step=0.001, what="f applies the new leader's entries")
        await c.crash(f, lose_unsynced=False)  # ... and f is killed: what it wrote reached the page cache
        c.lanes.pop(f)
        n = await c.start(f)
        await c.nodes[new].write("p", "after", b"3", None, None)
        await c.wait(lambda: n.applied >= c.nodes[new].applied or c.fatal, timeout=10,
                     what="f catches up after the restart")
        assert not c.fatal, f"f cannot take the new leader's log after the restart: {c.fatal[0][2]!r:.300}"
        assert await n.read("kept1", "follower") == b"2" and await n.read("after", "follower") == b"3"
        for t in pending:
            t.cancel()
        assert not c.failures, c.failures
        await c.close()
    run(main())
