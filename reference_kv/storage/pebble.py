"""PebbleDB: CockroachDB's Pebble through the Go shim (cffi, ABI mode).

Every call releases the GIL while Go runs, so a synced commit in a worker
thread (see aio.py) lets the asyncio loop go on. The shim library is loaded
on the first PebbleDB, not at import: see _ffi.py about fork.
"""
from __future__ import annotations

import json
import os
import struct
import threading
from typing import Iterable, Iterator

from . import _ffi
from .base import StorageError, StoreMixin, _as_bytes, resolve_bounds

_KV = struct.Struct("<II")
_LEN = struct.Struct("<I")
_I64 = struct.Struct("<q")
_NOT_FOUND = 0xFFFFFFFFFFFFFFFF

FLAG_ERROR_IF_NOT_EXISTS = 1
FLAG_READ_ONLY = 2

_GET_BUF = 4096
_FIRST_CHUNK, _CHUNK = 4096, 256 * 1024

_tls = threading.local()


class PebbleDB(StoreMixin):
    """A Pebble database in directory ``path``.

    ``cache_size`` / ``memtable_size`` in bytes (None: Pebble's defaults).
    """

    # Batches beyond this many packed bytes stream into a Go-side batch.
    _spill_bytes = 8 << 20

    def __init__(self, path, *, create_if_missing: bool = True, read_only: bool = False,
                 cache_size: int | None = None, memtable_size: int | None = None) -> None:
        self.path = os.fspath(path)
        self._h = 0
        self._ffi, self._lib = _ffi.load()
        self._alloc = self._ffi.new_allocator(should_clear_after_alloc=False)
        flags = (0 if create_if_missing else FLAG_ERROR_IF_NOT_EXISTS) | (FLAG_READ_ONLY if read_only else 0)
        p = self.path.encode()
        h = self._lib.pbs_open(p, len(p), cache_size or 0, memtable_size or 0, flags)
        if h < 0:
            raise StorageError(f"cannot open Pebble at {self.path}: {self._msg()}")
        self._h = h

    def __repr__(self) -> str:
        return f"PebbleDB({self.path!r}{'' if self._h else ', closed'})"

    def _msg(self) -> str:
        return _ffi.last_error(self._ffi, self._lib)

    def _fail(self, what: str) -> StorageError:
        return StorageError(f"pebble {self.path}: {what}: {self._msg()}")

    def _check(self, rc: int, what: str) -> int:
        if rc < 0:
            raise self._fail(what)
        return rc

    # -- reads ---------------------------------------------------------
    def get(self, key: bytes) -> bytes | None:
        if type(key) is not bytes:
            key = _as_bytes(key, "key")
        buf = getattr(_tls, "buf", None)
        if buf is None:
            buf = _tls.buf = self._alloc("char[]", _GET_BUF)
        while True:
            cap = len(buf)
            n = self._lib.pbs_get(self._h, key, len(key), buf, cap)
            if n >= 0:
                if n <= cap:
                    return self._ffi.unpack(buf, n)
                buf = _tls.buf = self._alloc("char[]", n)
                continue  # the value grew past this thread's buffer: read again
            if n == _ffi.RC_NOT_FOUND:
                return None
            raise self._fail("get")

    def get_many(self, keys: Iterable[bytes]) -> list[bytes | None]:
        """Point lookups of many keys in one foreign call."""
        packed = bytearray()
        count = 0
        for k in keys:
            k = _as_bytes(k, "key")
            packed += _LEN.pack(len(k))
            packed += k
            count += 1
        if count == 0:
            return []
        out = self._ffi.new("char **")
        n = self._check(self._lib.pbs_get_many(self._h, bytes(packed), len(packed), count, out), "get_many")
        try:
            data = self._ffi.unpack(out[0], n)
        finally:
            self._lib.pbs_free(out[0])
        result: list[bytes | None] = []
        off = 0
        for _ in range(count):
            (ln,) = _I64.unpack_from(data, off)
            off += 8
            if ln == -1:
                result.append(None)
            else:
                result.append(data[off:off + ln])
                off += ln
        return result

    def iterate(self, lower: bytes | None = None, upper: bytes | None = None,
                reverse: bool = False, limit: int | None = None,
                prefix: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) pairs with lower <= key < upper, in key order (or reversed).

        The view is a snapshot taken when iteration starts. The Go iterator is
        released when this generator is exhausted, closed, or collected.
        """
        lower, upper = resolve_bounds(lower, upper, prefix)
        if limit is not None and limit <= 0:
            return iter(())
        return self._iterate(lower, upper, reverse, limit)

    def _iterate(self, lower, upper, reverse, limit):
        lib = self._lib
        lo = b"" if lower is None else _as_bytes(lower, "lower")
        hi = b"" if upper is None else _as_bytes(upper, "upper")
        it = lib.pbs_iter_new(self._h, lo, len(lo), lower is not None, hi, len(hi), upper is not None,
                              bool(reverse))
        if it < 0:
            raise self._fail("iterate")
        try:
            remaining = limit if limit is not None else 1 << 62
            buf = self._alloc("char[]", _FIRST_CHUNK)
            unpack = _KV.unpack_from
            while remaining > 0:
                cap = len(buf)
                n = lib.pbs_iter_next(it, buf, cap, min(remaining, 1 << 30))
                if n == _ffi.RC_TOO_SMALL:
                    (need,) = struct.unpack_from("<Q", self._ffi.buffer(buf, 8))
                    buf = self._alloc("char[]", max(need, cap))
                    continue
                if n < 0:
                    raise self._fail("iterate")
                if n == 0:
                    return
                data = self._ffi.buffer(buf, n)[:]
                off = 0
                while off < n:
                    kl, vl = unpack(data, off)
                    off += 8
                    k = data[off:off + kl]
                    off += kl
                    yield k, data[off:off + vl]
                    off += vl
                    remaining -= 1
                if cap < _CHUNK:
                    buf = self._alloc("char[]", _CHUNK)
        finally:
            lib.pbs_iter_close(it)

    # -- writes --------------------------------------------------------
    def _write_packed(self, buf: bytearray, sync: bool) -> None:
        if buf:
            # from_buffer hands Go the bytearray's memory without a copy.
            self._check(self._lib.pbs_write(self._h, self._ffi.from_buffer(buf), len(buf), bool(sync)),
                        "commit")
        elif not self._h:
            raise StorageError(f"pebble {self.path}: commit: database is closed")

    def _spill_new(self) -> int:
        return self._check(self._lib.pbs_batch_new(self._h), "batch")

    def _spill_add(self, handle: int, buf: bytearray) -> None:
        if buf:
            self._check(self._lib.pbs_batch_add(handle, self._ffi.from_buffer(buf), len(buf)), "batch")

    def _spill_commit(self, handle: int, sync: bool) -> None:
        self._check(self._lib.pbs_batch_commit(handle, bool(sync)), "commit")

    def _spill_free(self, handle: int) -> None:
        self._lib.pbs_batch_free(handle)

    # -- maintenance ---------------------------------------------------
    def checkpoint(self, directory) -> None:
        """Write an openable copy of the DB (hard links where possible) into a new directory."""
        d = os.fspath(directory).encode()
        self._check(self._lib.pbs_checkpoint(self._h, d, len(d)), "checkpoint")

    def flush(self) -> None:
        self._check(self._lib.pbs_flush(self._h), "flush")

    def compact(self, start: bytes, end: bytes) -> None:
        """Compact the key range [start, end) down the LSM (tests and benchmarks)."""
        start, end = _as_bytes(start, "start"), _as_bytes(end, "end")
        self._check(self._lib.pbs_compact(self._h, start, len(start), end, len(end)), "compact")

    def estimate_disk_usage(self, start: bytes, end: bytes) -> int:
        """Approximate bytes on disk for keys in [start, end] (used to decide Region splits)."""
        start, end = _as_bytes(start, "start"), _as_bytes(end, "end")
        return self._check(self._lib.pbs_estimate_disk_usage(self._h, start, len(start), end, len(end)),
                           "estimate_disk_usage")

    def metrics(self) -> dict:
        out = self._ffi.new("char **")
        n = self._check(self._lib.pbs_metrics(self._h, out), "metrics")
        try:
            return json.loads(self._ffi.unpack(out[0], n))
        finally:
            self._lib.pbs_free(out[0])

    def close(self) -> None:
        """Close the DB (and any iterator or batch still open on it); idempotent."""
        h, self._h = self._h, 0
        if h:
            self._check(self._lib.pbs_close(h), "close")

    def __del__(self) -> None:
        # A DB dropped without close() would keep its files locked until exit.
        if getattr(self, "_h", 0):
            try:
                self.close()
            except Exception:
                pass
