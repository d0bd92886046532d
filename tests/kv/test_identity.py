"""A member that lost its data never votes as that member again (issue #14, defect 1): identity at
bootstrap, refusal of a wiped voter, and the way back (remove, re-add as a learner, promote)."""
from __future__ import annotations

import pytest

from reference_kv.sim import run
from reference_kv.sim.cluster import SimCluster
from simworld import restart_wiped_member

pytestmark = pytest.mark.unit


async def _wipe_and_restart_scenario(c: SimCluster):
    """Leader a commits a write on {a, w} while b lags; w loses its data dir and restarts; a dies.
    -> (a, b, w, the acknowledged value's key)."""
    a = await c.start_all()
    b, w = [i for i in c.ids if i != a]
    na = c.nodes[a]
    for k in range(3):
        await na.write("p", f"k{k}", b"1", None, None)
    await c.wait(lambda: all(n.applied == na.applied for n in c.nodes.values()), what="all caught up")
    c.net.partition([b], [a, w])
    assert await na.write("p", "acked", b'"yes"', None, None) is True  # committed on {a, w}
    await c.crash(w)
    c.wipe(w)
    return a, b, w, "acked"


def test_a_wiped_voter_does_not_vote_with_an_empty_log(tmp_path):
    """Issue #14 defect 1: the wiped node restarted as a fresh voter (term 0, empty log), granted b
    its vote, and b's log, lacking the acknowledged write, won."""
    async def main():
        c = SimCluster(tmp_path, 3, seed=11)
        a, b, w, key = await _wipe_and_restart_scenario(c)
        await restart_wiped_member(c, a, w, lambda: c.wait_leader(timeout=5),
                                   lambda lead: c.nodes[lead].read(key, "readindex"), ("remove", "--join"))
        assert not c.failures, c.failures
        await c.close()
    run(main())


def test_the_way_back_is_remove_rejoin_as_a_learner_by_snapshot_and_promote(tmp_path):
    async def main():
        c = SimCluster(tmp_path, 3, seed=13, snapshot_every=20)
        a, b, w, key = await _wipe_and_restart_scenario(c)
        with pytest.raises(ValueError, match="remove"):
            await c.start(w)
        c.net.heal()
        lead = await c.wait_leader(among=[a, b])
        for k in range(60):  # past a few snapshots: the learner must catch up by one
            await c.nodes[lead].write("p", f"more{k}", b"2", None, None)
        with pytest.raises(ValueError, match="voter"):  # --join while still a voter: refused too
            await c.start(w, join=True)
        await c.nodes[lead].remove(w)
        n = await c.start(w, join=True)
        await c.nodes[lead].add_learner(w, c.address(w), f"sim-{w}:2")
        await c.wait(lambda: n.applied >= c.nodes[lead].applied and n.role == 4, what="the learner caught up")
        assert n.metrics.snapshots_installed >= 1
        await c.nodes[lead].promote(w)
        await c.wait(lambda: n.role == 0, what="promoted")
        await c.crash(lead)  # the rejoined node now counts for the quorum, with everything
        new = await c.wait_leader(among=[i for i in c.ids if i != lead])
        assert await c.nodes[new].read(key, "readindex") == b'"yes"'
        assert await n.read("more59", "follower") == b"2"
        assert not c.failures, c.failures
        await c.close()
    run(main())
