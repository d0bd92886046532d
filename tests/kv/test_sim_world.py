"""The simulated world itself: one seed gives one run, crashes lose exactly the unsynced writes,
and virtual time runs far ahead of the wall clock."""
from __future__ import annotations

import asyncio
import time

import pytest

from reference_kv.sim import run
from reference_kv.sim.loop import Livelock
from reference_kv.sim.cluster import SimCluster
from reference_kv.sim.disk import SimDisk

pytestmark = pytest.mark.unit


def _scenario(root, seed: int) -> list:
    async def main():
        c = SimCluster(root, 3, seed=seed, snapshot_every=10)
        trace = []
        lead = await c.start_all()
        loop = asyncio.get_running_loop()
        for k in range(30):
            await c.nodes[lead].write("p", f"k{k % 4}", b"%d" % k, None, None)
            trace.append((round(loop.time(), 9), lead, c.nodes[lead].term))
        await c.crash(lead)
        lead = await c.wait_leader()
        await c.nodes[lead].write("p", "after", b"1", None, None)
        trace.append((round(loop.time(), 9), lead, c.nodes[lead].term, c.net.delivered))
        trace.append(sorted((i, n.applied, n.term) for i, n in c.nodes.items()))
        await c.close()
        return trace
    return run(main())


def test_one_seed_gives_one_run(tmp_path):
    a = _scenario(tmp_path / "a", 5)
    b = _scenario(tmp_path / "b", 5)
    assert a == b
    assert _scenario(tmp_path / "c", 6) != a


def test_a_crash_loses_exactly_the_unsynced_writes():
    d = SimDisk()
    d.set(b"a", b"1", sync=True)
    d.set(b"b", b"2", sync=False)
    d.set(b"c", b"3", sync=False)
    assert d.reopened().get(b"c") == b"3"  # a clean stop: the page cache survives
    s = d.survivor()
    assert s.get(b"a") == b"1" and s.get(b"b") is None and s.get(b"c") is None
    d.set(b"d", b"4", sync=True)  # a sync makes everything before it durable, as a WAL does
    assert d.survivor().get(b"b") == b"2"


def test_virtual_time_runs_ahead_of_the_wall_clock(tmp_path):
    async def main():
        c = SimCluster(tmp_path, 3, seed=1)
        await c.start_all()
        await asyncio.sleep(60)  # a minute of heartbeats
        await c.close()
        return asyncio.get_running_loop().time()
    t0 = time.process_time()  # CPU, not wall: other jobs on the machine must not fail the test
    virtual = run(main())
    assert virtual >= 60 and time.process_time() - t0 < virtual / 10


def test_a_loop_spinning_at_one_instant_is_a_livelock_not_a_hang():
    """Code that always has a callback ready never lets virtual time move: the timeouts meant to end
    it never fire, so the loop itself must stop it (a simulated run never hangs)."""
    async def spin():
        await asyncio.wait_for(_forever(), 5.0)

    async def _forever():
        while True:
            await asyncio.sleep(0)

    with pytest.raises(Livelock, match="livelock"):
        run(spin())


def test_a_timer_due_within_the_clock_resolution_moves_the_clock():
    """asyncio runs a timer due less than its clock resolution ahead at once; virtual time must go
    there too, or a loop waiting until that instant (identity.Formation.run does) spins forever
    with its clock standing still (found as a livelock by the hypothesis machine)."""
    async def main():
        loop = asyncio.get_running_loop()
        await asyncio.sleep(26.565561453489003)
        target = loop.time() + 2.5934809855243657e-13
        changed = asyncio.Event()
        rounds = 0
        while loop.time() < target:
            rounds += 1
            try:
                await asyncio.wait_for(changed.wait(), max(0.0, target - loop.time()))
            except asyncio.TimeoutError:
                pass
        return rounds
    assert run(main()) <= 2
