"""One or more real nodes in the simulated world (reference_kv.sim): MemoryStorage that loses what
was not synced, an in-memory network, lanes as tasks, virtual time. Deterministic, no sockets."""
from __future__ import annotations

import asyncio

import pytest

from reference_kv.sim import run
from reference_kv.sim.cluster import SimCluster

pytestmark = pytest.mark.unit


def test_a_second_membership_change_waits_for_the_first_to_be_applied(tmp_path):
    """Issue #14 defect 2, its own example: voters {1,2,3,4}, learners {5,6}. With the leader's apply
    lane slow, promote 6 was accepted while promote 5 was committed but not applied, stamped with the
    stale base {1,2,3,4} | {5,6}; applying it gave voters {1,2,3,4,6}, so a partition {1,2,5} | {3,4,6}
    could elect a leader on each side in one term."""
    async def main():
        c = SimCluster(tmp_path, 4, seed=3)
        lead = await c.start_all()
        n = c.nodes[lead]
        for j in (5, 6):
            await c.start(j, join=True)
            await n.add_learner(j, c.address(j), f"sim-{j}:2")
        await c.wait(lambda: all(m.applied == n.applied for m in c.nodes.values()), what="learners caught up")
        c.lanes[lead]["storage"].delay = lambda rng: 0.05  # every apply round takes 50 ms
        results = await asyncio.gather(n.promote(5), n.promote(6), return_exceptions=True)
        assert not any(isinstance(r, Exception) and "refused" not in str(r) for r in results), results
        c.lanes[lead]["storage"].delay = None
        await c.wait(lambda: all(m.raw.status()["applied"] == n.raw.status()["commit"] for m in c.nodes.values()),
                     what="everyone applied")
        for i, m in c.nodes.items():
            assert m.raw.status()["voters"] == [1, 2, 3, 4, 5, 6], (i, m.raw.status()["voters"])
        # The partition of the issue: no side holds a majority of six.
        c.net.partition([1, 2, 5], [3, 4, 6])
        terms = {}
        for _ in range(100):
            await asyncio.sleep(0.05)
            for i, m in c.nodes.items():
                if m.role == 3:
                    assert terms.setdefault(m.term, i) == i, f"two leaders in term {m.term}: {terms[m.term]} and {i}"
        await c.stop(lead)
        n = await c.start(lead)
        assert n.raw.status()["voters"] == [1, 2, 3, 4, 5, 6], "the persisted configuration lost a promotion"
        assert not c.failures, c.failures
        await c.close()
    run(main())


def test_a_paused_lease_leader_serves_no_stale_read(tmp_path):
    """The node catches up the ticks it missed before it trusts its lease (the Region path's twin)."""
    async def main():
        c = SimCluster(tmp_path, 3, seed=5, read_mode="lease")
        old = await c.start_all()
        n = c.nodes[old]
        assert await n.write("p", "k", b'"before"', None, None) is True
        assert await n.read("k", "lease") == b'"before"'  # its lease is fresh now
        rest = [i for i in c.ids if i != old]
        c.net.partition([old], rest)
        c.pause(old)
        new = await c.wait_leader(among=rest)
        assert await c.nodes[new].write("p", "k", b'"after"', None, None) is True
        read = asyncio.get_running_loop().create_task(n.read("k", "lease"))
        await asyncio.sleep(0)
        c.resume(old)
        try:
            value = await read
        except Exception as e:
            value = e
        assert value != b'"before"', "stale read from an expired lease"
        await c.close()
    run(main())
