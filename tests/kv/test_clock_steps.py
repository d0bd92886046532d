"""A leader's clock that steps forward and back must not stretch its lease.

Found by CI: under clock-slow-leader the safe KV served stale lease reads from a
deposed leader for the whole 1.8-s partition, never stepping down by CheckQuorum.
libfaketime's default library rereads its control file in every clock call with no
lock, so while the rate changes a second thread can read a time mixed from the old
and new lines, seconds off (tests/nemesis/test_clock_threads.py). One reading a second
ahead moved the replica's tick mark a second ahead while the core's clock, capped,
moved 22 ticks; the next round renewed the lease at that count; then the clock read
right again, a second behind the mark, and no tick was counted until it caught up:
the lease and CheckQuorum stood still while the others elected a new leader.
A monotonic clock that reads less than it did is broken; the lease it measured is void.
"""
from __future__ import annotations

import pytest

from reference_kv.sim import run
from reference_kv.sim.cluster import SimCluster

pytestmark = pytest.mark.unit


def test_a_clock_that_steps_ahead_and_back_does_not_keep_a_deposed_leaders_lease(tmp_path):
    async def main():
        c = SimCluster(tmp_path, 3, seed=7, read_mode="lease")
        old = await c.start_all()
        await c.nodes[old].write("p", "k", b"before", None, "t:1")
        assert await c.nodes[old].read("k", "lease") == b"before"
        clock = c.clocks[old]
        clock.step = 1.0  # one glitched stretch: the clock reads a second ahead ...
        await c.wait(lambda: c.nodes[old].replica._last_tick >= clock.now() - 0.02, what="a tick at the glitch")
        assert await c.nodes[old].read("k", "lease") == b"before"  # a round at the glitched count
        rest = [i for i in c.ids if i != old]
        c.net.partition([old], rest)
        clock.step = 0.0  # ... and right again: a second behind where the replica saw it
        new = await c.wait_leader(among=rest)
        await c.nodes[new].write("p", "k", b"after", None, "t:2")
        try:
            got = await c.nodes[old].read("k", "lease")
        except Exception:  # not leader, timeout: no answer is no stale answer
            got = None
        assert got != b"before", "a deposed leader served a stale lease read after its clock stepped back"
        await c.wait(lambda: c.nodes[old].replica.role != c.nodes[new].replica.role, timeout=5,
                     what="the old leader stepping down by CheckQuorum while cut off")
        await c.close()
    run(main())
