"""A wiped store never votes with empty replicas (issue #14, defect 1 on Regions)."""
from __future__ import annotations

import pytest

from reference_kv.sim import run
from reference_kv.sim.cluster import SimCluster

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
        try:
            await c.start(w)
        except ValueError as e:
            refused = str(e)
        else:
            refused = None
        await c.crash(a)
        c.net.heal()
        if refused is None:
            try:
                lead = await c.wait(lambda: _region_leader(c), timeout=5, what="a Region 1 leader")
            except AssertionError:
                lead = None
            if lead is not None:
                value = await c.nodes[lead].read("acked", "readindex")
                assert value == b'"yes"', f"acknowledged write lost: store {lead} leads Region 1 without it"
        else:
            assert f"node {w}" in refused and "remove" in refused, refused
        assert not c.failures, c.failures
        await c.close()
    run(main())
