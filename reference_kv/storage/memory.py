"""MemoryStorage: the Storage contract in memory, for pure tests.

It shares Batch and its validation with PebbleDB, iterates over a snapshot
taken when iteration starts (as Pebble does), and checkpoints into a
directory that ``MemoryStorage.open`` reads back.
"""
from __future__ import annotations

import bisect
import os
import threading
from pathlib import Path
from typing import Iterable, Iterator

from .base import (MEMORY_CHECKPOINT_FILE, METRIC_KEYS, OP_DELETE, OP_DELETE_RANGE, OP_SET, StorageError, StoreMixin, _as_bytes,
                   pack_sets, resolve_bounds, unpack_ops)

CHECKPOINT_FILE = MEMORY_CHECKPOINT_FILE


class MemoryStorage(StoreMixin):
    def __init__(self) -> None:
        self._keys: list[bytes] = []  # sorted
        self._data: dict[bytes, bytes] = {}
        self._lock = threading.RLock()
        self._closed = False
        self._bytes_written = 0
        self._commits = 0

    @classmethod
    def open(cls, directory) -> "MemoryStorage":
        """A store holding what ``checkpoint(directory)`` wrote."""
        path = Path(directory) / CHECKPOINT_FILE
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise StorageError(f"no memory checkpoint in {directory} (missing {CHECKPOINT_FILE})") from None
        store = cls()
        store._apply(data)
        return store

    def __repr__(self) -> str:
        return f"MemoryStorage({len(self._keys)} keys{', closed' if self._closed else ''})"

    def _check_open(self, what: str) -> None:
        if self._closed:
            raise StorageError(f"memory storage: {what}: storage is closed")

    def get(self, key: bytes) -> bytes | None:
        key = _as_bytes(key, "key")
        with self._lock:
            self._check_open("get")
            return self._data.get(key)

    def get_many(self, keys: Iterable[bytes]) -> list[bytes | None]:
        keys = [_as_bytes(k, "key") for k in keys]
        with self._lock:
            self._check_open("get_many")
            return [self._data.get(k) for k in keys]

    def iterate(self, lower: bytes | None = None, upper: bytes | None = None,
                reverse: bool = False, limit: int | None = None,
                prefix: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        lower, upper = resolve_bounds(lower, upper, prefix)
        lower = None if lower is None else _as_bytes(lower, "lower")
        upper = None if upper is None else _as_bytes(upper, "upper")
        # A generator, like PebbleDB's: the snapshot is taken at the first next().
        return self._iterate(lower, upper, reverse, limit)

    def _iterate(self, lower, upper, reverse, limit):
        with self._lock:
            self._check_open("iterate")
            lo = 0 if lower is None else bisect.bisect_left(self._keys, lower)
            hi = len(self._keys) if upper is None else bisect.bisect_left(self._keys, upper)
            if limit is not None:
                if limit <= 0:
                    lo = hi
                elif reverse:
                    lo = max(lo, hi - limit)
                else:
                    hi = min(hi, lo + limit)
            keys = self._keys[lo:hi]
            snapshot = [(k, self._data[k]) for k in (reversed(keys) if reverse else keys)]
        yield from snapshot

    def _write_packed(self, buf: bytearray, sync: bool) -> None:
        with self._lock:
            self._check_open("commit")
            self._apply(bytes(buf))
            self._bytes_written += len(buf)
            self._commits += 1

    def _apply(self, data: bytes) -> None:
        # Decode fully first, so a malformed buffer changes nothing.
        ops = list(unpack_ops(data))
        for op, a, b in ops:
            if op == OP_SET:
                if a not in self._data:
                    bisect.insort(self._keys, a)
                self._data[a] = b
            elif op == OP_DELETE:
                if self._data.pop(a, None) is not None:
                    del self._keys[bisect.bisect_left(self._keys, a)]
            elif op == OP_DELETE_RANGE:
                lo, hi = bisect.bisect_left(self._keys, a), bisect.bisect_left(self._keys, b)
                for k in self._keys[lo:hi]:
                    del self._data[k]
                del self._keys[lo:hi]
            else:
                raise StorageError(f"memory storage: unknown batch op {op}")

    def checkpoint(self, directory) -> None:
        """Write every key into a new directory, fsynced, readable by MemoryStorage.open."""
        directory = Path(directory)
        if directory.exists():
            raise StorageError(f"memory storage: checkpoint: {directory} already exists")
        with self._lock:
            self._check_open("checkpoint")
            data = pack_sets((k, self._data[k]) for k in self._keys)
        directory.mkdir(parents=True)
        fd = os.open(directory / CHECKPOINT_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def flush(self) -> None:
        self._check_open("flush")

    def metrics(self) -> dict:
        with self._lock:
            self._check_open("metrics")
            size = sum(len(k) + len(v) for k, v in self._data.items())
            m = dict.fromkeys(METRIC_KEYS, 0)
            m.update(disk_space_usage=size, memtable_size=size, wal_bytes_written=self._bytes_written,
                     keys=len(self._keys), commits=self._commits)
            return m

    def estimate_disk_usage(self, start: bytes, end: bytes) -> int:
        """Bytes of keys and values with start <= key <= end (Pebble's bound is inclusive too)."""
        start, end = _as_bytes(start, "start"), _as_bytes(end, "end")
        with self._lock:
            self._check_open("estimate_disk_usage")
            lo, hi = bisect.bisect_left(self._keys, start), bisect.bisect_right(self._keys, end)
            return sum(len(k) + len(self._data[k]) for k in self._keys[lo:hi])

    def close(self) -> None:
        with self._lock:
            self._closed = True
