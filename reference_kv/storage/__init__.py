"""Storage for the reference KV: one protocol, two stores.

- ``reference_kv.storage.pebble.PebbleDB(path)``: Pebble through a Go shim
  (build it with ``python -m reference_kv.storage.build``; it is also built
  on first use). Processes using it must be started with multiprocessing's
  "spawn" method: the Go runtime does not survive fork.
- ``reference_kv.storage.memory.MemoryStorage()``: the same semantics in
  memory, for pure tests.

Nothing heavy is imported here: the Go runtime loads on the first PebbleDB.
"""
from __future__ import annotations

from .base import Batch, Storage, StorageError, prefix_upper

__all__ = ["Batch", "Storage", "StorageError", "open_storage", "prefix_upper"]


def open_storage(kind: str, path=None, **options) -> Storage:
    """Open the store named ``kind`` ("pebble" or "memory") at ``path``."""
    if kind == "pebble":
        from .pebble import PebbleDB

        if path is None:
            raise ValueError("pebble storage needs a directory")
        return PebbleDB(path, **options)
    if kind == "memory":
        from .memory import MemoryStorage

        return MemoryStorage()
    raise ValueError(f"unknown storage kind {kind!r} (expected 'pebble' or 'memory')")
