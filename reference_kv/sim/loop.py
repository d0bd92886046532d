"""An asyncio event loop on virtual time (the idea of trio's MockClock with autojump).

When no callback is ready, the loop's clock jumps to its next timer instead of
waiting, so sixty seconds of heartbeats and timeouts take milliseconds and
every run of the same program sees the same times. Everything that awaits
loop time (`asyncio.sleep`, `wait_for`, `call_later`, the node's clock) runs
on it unchanged. A worker thread would break this: while it runs, time jumps
anyway; simulated code uses `SimRunner` lanes instead.
"""
from __future__ import annotations

import asyncio
import selectors


class _JumpSelector(selectors.BaseSelector):
    """The loop's real selector (it only watches the loop's self-pipe), never asked to block."""

    def __init__(self) -> None:
        self._real = selectors.DefaultSelector()
        self.loop: VirtualTimeLoop | None = None

    def register(self, fileobj, events, data=None):
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj):
        return self._real.unregister(fileobj)

    def modify(self, fileobj, events, data=None):
        return self._real.modify(fileobj, events, data)

    def get_map(self):
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    def select(self, timeout=None):
        # Without worker threads only the loop itself could have written to its self-pipe, and its
        # call_soon_threadsafe does not (below): no system call per iteration.
        ready = self._real.select(0) if self.loop.threads else []
        if ready or timeout == 0:
            loop = self.loop
            loop.spins += 1
            # asyncio runs a timer due within the clock's resolution now: the clock goes there
            # too, or code that waits until a time that tiny step ahead waits forever.
            if loop._scheduled and loop._now < loop._scheduled[0]._when < loop._now + loop._clock_resolution:
                loop._now = loop._scheduled[0]._when
            if loop.spins > SPIN_LIMIT and not loop.threads:
                raise Livelock(loop)
            return ready
        if timeout is None:
            # No timer at all: only another thread could wake us. In a simulation nothing will.
            if self.loop.threads:
                return self._real.select(None)
            raise Deadlock(self.loop)
        self.loop.jump(timeout)
        return []


class Deadlock(RuntimeError):
    """Every task waits and no timer is set: nothing can ever happen again."""

    def __init__(self, loop):
        stacks = []
        for t in asyncio.all_tasks(loop):
            frames = t.get_stack(limit=3)
            where = " <- ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in frames) or "?"
            stacks.append(f"{t.get_name()}: {where}")
        super().__init__("deadlock: every task waits and no timer is set\n  " + "\n  ".join(sorted(stacks)))


class Livelock(Deadlock):
    """Callbacks keep coming and the clock never moves on: a loop spinning in virtual time."""

    def __init__(self, loop):
        super().__init__(loop)
        self.args = (self.args[0].replace("deadlock: every task waits and no timer is set",
                                          f"livelock: {SPIN_LIMIT} loop iterations without time moving on"),)


SPIN_LIMIT = 1_000_000  # loop iterations at one instant; a real program has a few hundred


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self, start: float = 0.0, threads: bool = False):
        selector = _JumpSelector()
        super().__init__(selector)
        selector.loop = self
        self.threads = threads  # True: block for worker threads when idle (breaks determinism)
        self._now = float(start)
        self._clock_resolution = 1e-9
        self.spins = 0  # iterations since the clock last moved

    def time(self) -> float:
        return self._now

    def call_soon_threadsafe(self, callback, *args, context=None):
        if self.threads:
            return super().call_soon_threadsafe(callback, *args, context=context)
        return self.call_soon(callback, *args, context=context)  # one thread: no self-pipe wakeup

    def jump(self, seconds: float) -> None:
        """To the next timer exactly: `now + (when - now)` can round below `when` and never get there."""
        now = self._now + seconds
        if self._scheduled:
            now = max(now, self._scheduled[0]._when)
        self._now = now
        self.spins = 0


def run(main, start: float = 0.0):
    """Run coroutine `main` to completion on a fresh virtual-time loop; -> its result."""
    loop = VirtualTimeLoop(start)
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main)
    finally:
        try:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
