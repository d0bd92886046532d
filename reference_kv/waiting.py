"""Futures a Raft replica owes answers to, shared by the single-group node and Region replicas."""
from __future__ import annotations

import asyncio
import heapq
import itertools


class AppliedWaiters:
    """Requests waiting for the applied index to reach theirs (reads after their read index)."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, asyncio.Future]] = []
        self._seq = itertools.count()  # ties: no futures compared

    async def wait(self, applied: int, index: int) -> None:
        if applied >= index:
            return
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (index, next(self._seq), fut))
        await fut

    def release(self, applied: int) -> None:
        h = self._heap
        while h and h[0][0] <= applied:
            fut = heapq.heappop(h)[2]
            if not fut.done():
                fut.set_result(None)

    def fail(self, err: BaseException) -> None:
        fail_all((w[2] for w in self._heap), err)
        self._heap.clear()


def fail_all(futures, err: BaseException) -> None:
    for fut in futures:
        if not fut.done():
            fut.set_exception(err)


def settle(pending: dict, results: dict) -> None:
    """Answer the proposals whose results the apply produced."""
    for pid, result in results.items():
        fut = pending.pop(pid, None)
        if fut is not None and not fut.done():
            fut.set_result(result)
