"""Lanes as tasks on the (virtual-time) loop, in the order submitted, each call taking simulated time."""
from __future__ import annotations

import asyncio
import random
from typing import Callable


class SimRunner:
    """A lane whose calls run on the event loop, one after another.

    `delay(rng) -> seconds` is the simulated duration of each call (a slow or
    stalled disk); `hold()` / `release()` stop and restart the lane, so a test
    can keep work queued while the rest of the node goes on.
    """

    def __init__(self, name: str, rng: random.Random | None = None, delay: Callable | None = None):
        self.name = name
        self.rng = rng or random.Random(0)
        self.delay = delay
        self._queue: list[tuple[Callable, tuple, asyncio.Future]] = []
        self._busy = False
        self._held = False
        self.calls = 0

    def submit(self, fn: Callable, *args) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._queue.append((fn, args, fut))
        self._kick(loop)
        return fut

    async def run(self, fn: Callable, *args):
        return await self.submit(fn, *args)

    def hold(self) -> None:
        self._held = True

    def release(self) -> None:
        self._held = False
        if self._queue:
            self._kick(asyncio.get_running_loop())

    @property
    def queued(self) -> int:
        return len(self._queue)

    def _kick(self, loop) -> None:
        if self._busy or self._held or not self._queue:
            return
        self._busy = True
        d = self.delay(self.rng) if self.delay else 0.0
        loop.call_later(d, self._one) if d > 0 else loop.call_soon(self._one)

    def _one(self) -> None:
        self._busy = False
        if self._held or not self._queue:
            return
        fn, args, fut = self._queue.pop(0)
        self.calls += 1
        try:
            result = fn(*args)
        except BaseException as e:  # handed to whoever awaits, as a thread pool would
            if not fut.done():
                fut.set_exception(e)
        else:
            if not fut.done():
                fut.set_result(result)
        self._kick(asyncio.get_running_loop())

    def shutdown(self) -> None:
        self._held = True


def sim_runners(rng: random.Random | None = None, delay: Callable | None = None):
    """A runner factory for Node/Store: every lane a SimRunner; -> (factory, dict of lanes by name)."""
    made: dict[str, SimRunner] = {}

    def factory(name: str) -> SimRunner:
        r = made[name] = SimRunner(name, rng, delay)
        return r

    return factory, made
