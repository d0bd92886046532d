"""What the hypothesis machines over the simulated world share: the loop, the faults every world
has, and the register check of one client's operations.

One client writes unique values to a few keys, one operation at a time, so linearizability is simple
to state: a read returns a value no older than the last write acknowledged before it started and no
newer than the last write invoked before it ended (a delete writes None).
"""
from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from reference_kv.errors import KVError
from reference_kv.sim.cluster import SimCluster
from reference_kv.sim.loop import VirtualTimeLoop


class History:
    def __init__(self, keys):
        self.writes = {k: [] for k in keys}  # key -> [[value, acked]], in invocation order

    async def write(self, key, value, fn) -> None:
        self.writes[key].append([value, False])
        try:
            self.writes[key][-1][1] = (await fn()) is True
        except (KVError, asyncio.TimeoutError):
            pass  # unknown outcome: it may apply later

    async def read(self, key, fn, what: str) -> None:
        history = self.writes[key]
        floor = max((i for i, (_, acked) in enumerate(history) if acked), default=-1)
        try:
            value = await fn()
        except (KVError, asyncio.TimeoutError):
            return
        seen = [i for i, (v, _) in enumerate(history) if v == value] + ([-1] if value is None else [])
        assert seen, f"{what}: read {key} -> {value!r:.40}, a value nobody wrote"
        assert max(seen) >= floor, (f"stale read: {what} of {key} returned {value!r:.30}, older than write "
                                    f"#{floor}, acknowledged before the read began")


class SimMachine(RuleBasedStateMachine):
    """A SimCluster on a virtual-time loop; subclasses set it up with `world(...)` and add rules.

    Subclasses give KEYS, read(key, mode, at) and SETTLE_S (how long the final reads wait
    after the heal)."""

    KEYS: tuple = ()
    SETTLE_S = 2.0

    def world(self, **kw) -> SimCluster:
        self.loop = VirtualTimeLoop()
        self.tmp = tempfile.TemporaryDirectory()
        self.c = SimCluster(Path(self.tmp.name), **kw)
        return self.c

    def run(self, coro, limit: float = 30.0):
        return self.loop.run_until_complete(asyncio.wait_for(coro, limit))

    def teardown(self):
        if hasattr(self, "c"):
            self.run(self.c.close())
            self.loop.close()
            self.tmp.cleanup()

    def live(self) -> bool:
        return hasattr(self, "c")

    @rule()
    def heal(self):
        if self.live():
            self.c.net.heal()

    @rule(seconds=st.sampled_from([0.05, 0.3, 1.0, 3.0]))
    def time_passes(self, seconds):
        if self.live():
            self.run(asyncio.sleep(seconds))

    @rule(i=st.integers(0, 4), seconds=st.sampled_from([0.1, 0.3, 1.0]))
    def pause(self, i, seconds):
        ids = sorted(self.c.nodes) if self.live() else []
        if not ids:
            return
        j = ids[i % len(ids)]

        async def pause():  # resumed on the loop: what waited in its socket is handled there
            self.c.pause(j)
            await asyncio.sleep(seconds)
            if j in self.c.nodes:
                self.c.resume(j)
        self.run(pause())

    def start_down(self, limit: float = 5.0) -> None:
        """Start every node that is down; one that lost its data is refused or keeps asking."""
        for j in [j for j in self.c.ids if j not in self.c.nodes]:
            try:
                self.run(self.c.start(j), limit)
            except (ValueError, asyncio.TimeoutError):
                pass

    @invariant()
    def no_member_failed(self):
        if self.live():
            assert not self.c.failures, self.c.failures

    @precondition(lambda self: self.live())
    @rule()
    def final_reads(self):
        """Heal, let things settle, and read every key through the leader (Jepsen's final reads)."""
        self.c.net.heal()
        self.start_down()
        self.run(asyncio.sleep(self.SETTLE_S))
        for key in self.KEYS:
            self.read(key, "readindex", 0)
        self.after_final_reads()

    def after_final_reads(self) -> None:
        """What a world notes of its run once the final reads passed."""


async def restart_wiped_member(c: SimCluster, a: int, w: int, leader, read_acked, refusal_words) -> None:
    """Issue #14 defect 1: w lost its data after a committed a write with it; w restarts with its old
    command line, a dies, the network heals. w is refused naming itself and the way back, or whoever
    leads then (leader() -> id, AssertionError if none) answers the acknowledged write."""
    try:
        await c.start(w)
    except ValueError as e:
        refused = str(e)
    else:
        refused = None
    await c.crash(a)
    c.net.heal()
    if refused is not None:
        assert f"node {w}" in refused and all(word in refused for word in refusal_words), refused
        return
    try:
        lead = await leader()
    except AssertionError:
        return  # no leader: nothing acknowledged was served without it
    value = await read_acked(lead)
    assert value == b'"yes"', f"acknowledged write lost: {lead} leads without it ({value})"
