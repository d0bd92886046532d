"""Calling storage from asyncio without stalling the loop.

Pebble calls release the GIL, so running them in a worker thread lets the
event loop go on during an fsync. ``AsyncStorage`` wraps a store with one
worker thread by default: calls run in the order they were awaited, which
keeps Raft's "persist, then send" ordering simple. Ad hoc calls can also use
``await asyncio.to_thread(db.get, key)``.
"""
from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor

from .base import Batch, Storage


class AsyncStorage:
    def __init__(self, store: Storage, workers: int = 1) -> None:
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="storage")

    async def run(self, fn, *args, **kwargs):
        """Run any blocking storage call in the worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    async def get(self, key: bytes):
        return await self.run(self.store.get, key)

    async def commit(self, batch: Batch, sync: bool = True) -> None:
        await self.run(batch.commit, sync)

    async def write_many(self, items, sync: bool = True) -> None:
        await self.run(self.store.write_many, list(items), sync)

    async def scan(self, lower=None, upper=None, reverse=False, limit=None, prefix=None):
        return await self.run(self.store.scan, lower, upper, reverse, limit, prefix)

    async def close(self) -> None:
        """Close the store after queued calls finish, then stop the worker."""
        await self.run(self.store.close)
        self._pool.shutdown(wait=False)
