"""Where the KV's blocking work runs: one worker per lane, calls in the order they were submitted.

The node and the Region store take a `runners(name) -> Runner` factory, so a
simulation can run the same lanes as tasks on a virtual-time loop
(`reference_kv.sim.SimRunner`) instead of threads: no hidden real time, and
one seed gives one interleaving.
"""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Protocol


class Runner(Protocol):
    def submit(self, fn: Callable, *args) -> asyncio.Future: ...
    async def run(self, fn: Callable, *args): ...
    def shutdown(self) -> None: ...


class ThreadRunner:
    """One worker thread. Pebble calls release the GIL, so the event loop goes on during an fsync."""

    def __init__(self, name: str):
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=name)

    def submit(self, fn: Callable, *args) -> asyncio.Future:
        return asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def run(self, fn: Callable, *args):
        return await self.submit(fn, *args)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)


def threads(name: str) -> ThreadRunner:
    """The production runner factory: a thread per lane."""
    return ThreadRunner(name)
