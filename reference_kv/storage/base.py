"""The storage contract shared by Pebble and the in-memory store.

A batch is packed into one byte buffer as it is built (format in
shim/ops.go), so committing it is a single foreign call for Pebble and a
single locked apply for the in-memory store; both stores share this class
and therefore its validation and semantics.
"""
from __future__ import annotations

import re
import struct
from typing import Iterable, Iterator, Protocol, runtime_checkable

OP_SET, OP_DELETE, OP_DELETE_RANGE = 1, 2, 3
_OP = struct.Struct("<BII")
_PACK_OP = _OP.pack

# Every store's metrics() has at least these keys, so callers need no branch.
METRIC_KEYS = (
    "disk_space_usage", "memtable_size", "wal_bytes_written", "wal_size",
    "flush_count", "compaction_count", "sstable_count", "sstable_size", "read_amp",
)


# What a checkpoint directory can hold: flat files named as Pebble names them
# (tables, WAL segments, blob files, MANIFEST, OPTIONS, markers) or the one
# file MemoryStorage writes. A peer that sends a snapshot may only name these.
MEMORY_CHECKPOINT_FILE = "MEMORY-CHECKPOINT"
_CHECKPOINT_NAME = re.compile(
    r"(?:\d{6,}\.(?:sst|log|blob)|MANIFEST-\d{6,}|OPTIONS-\d{6,}"
    r"|marker\.[a-z-]{1,32}\.\d{6,}\.[A-Za-z0-9-]{1,64}(?:\.[A-Za-z0-9-]{1,64})?|"
    + re.escape(MEMORY_CHECKPOINT_FILE) + r")")


def is_checkpoint_file(name: str) -> bool:
    return isinstance(name, str) and _CHECKPOINT_NAME.fullmatch(name) is not None


class StorageError(Exception):
    """A storage operation failed; the message says which and why."""


def _as_bytes(x, what: str) -> bytes:
    if type(x) is bytes:
        return x
    if isinstance(x, (bytearray, memoryview)):
        return bytes(x)
    raise TypeError(f"{what} must be bytes, not {type(x).__name__}")


def pack_op(buf: bytearray, op: int, a: bytes, b: bytes = b"") -> None:
    buf += _OP.pack(op, len(a), len(b))
    buf += a
    buf += b


def pack_sets(items: Iterable[tuple[bytes, bytes]]) -> bytearray:
    buf = bytearray()
    for k, v in items:
        pack_op(buf, OP_SET, _as_bytes(k, "key"), _as_bytes(v, "value"))
    return buf


def unpack_ops(data: bytes) -> Iterator[tuple[int, bytes, bytes]]:
    off, n = 0, len(data)
    while off < n:
        op, la, lb = _OP.unpack_from(data, off)
        off += _OP.size
        a = bytes(data[off:off + la])
        off += la
        b = bytes(data[off:off + lb])
        off += lb
        yield op, a, b


def prefix_upper(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key starting with prefix (None: no bound)."""
    p = bytearray(prefix)
    while p and p[-1] == 0xFF:
        p.pop()
    if not p:
        return None
    p[-1] += 1
    return bytes(p)


def resolve_bounds(lower, upper, prefix):
    if prefix is None:
        return lower, upper
    if lower is not None or upper is not None:
        raise ValueError("give either prefix or lower/upper bounds, not both")
    prefix = _as_bytes(prefix, "prefix")
    return prefix, prefix_upper(prefix)


class Batch:
    """Writes applied all together or not at all by commit().

    ``with db.batch() as b: ...; b.commit()`` releases an uncommitted batch on
    exit; a batch can be committed once.
    """

    __slots__ = ("_store", "_buf", "_count", "_spill", "_done")

    def __init__(self, store) -> None:
        self._store = store
        self._buf = bytearray()
        self._count = 0
        self._spill = None  # store-side handle once the buffer grew large
        self._done = False

    def __len__(self) -> int:
        return self._count

    def _added(self) -> None:
        self._count += 1
        if len(self._buf) >= self._store._spill_bytes:
            if self._spill is None:
                self._spill = self._store._spill_new()
            self._store._spill_add(self._spill, self._buf)
            self._buf = bytearray()

    def _check_open(self) -> None:
        if self._done:
            raise StorageError("batch already committed or closed")

    def set(self, key: bytes, value: bytes) -> None:
        # Inlined: this is the hot path of every batched Raft append.
        if self._done:
            raise StorageError("batch already committed or closed")
        if type(key) is not bytes:
            key = _as_bytes(key, "key")
        if type(value) is not bytes:
            value = _as_bytes(value, "value")
        buf = self._buf
        buf += _PACK_OP(OP_SET, len(key), len(value))
        buf += key
        buf += value
        self._added()

    def delete(self, key: bytes) -> None:
        self._check_open()
        pack_op(self._buf, OP_DELETE, _as_bytes(key, "key"))
        self._added()

    def delete_range(self, start: bytes, end: bytes) -> None:
        """Delete every key k with start <= k < end."""
        self._check_open()
        start, end = _as_bytes(start, "start"), _as_bytes(end, "end")
        if start > end:
            raise StorageError(f"delete_range: start {start!r} is after end {end!r}")
        pack_op(self._buf, OP_DELETE_RANGE, start, end)
        self._added()

    def commit(self, sync: bool = True) -> None:
        self._check_open()
        self._done = True
        if self._spill is None:
            self._store._write_packed(self._buf, sync)
        else:
            spill, self._spill = self._spill, None
            try:
                self._store._spill_add(spill, self._buf)
            except BaseException:
                self._store._spill_free(spill)
                raise
            self._store._spill_commit(spill, sync)
        self._buf = bytearray()

    def close(self) -> None:
        """Discard the batch without writing anything."""
        self._done = True
        self._buf = bytearray()
        if self._spill is not None:
            spill, self._spill = self._spill, None
            self._store._spill_free(spill)

    def __enter__(self) -> "Batch":
        return self

    def __exit__(self, *exc) -> None:
        if not self._done or self._spill is not None:
            self.close()


@runtime_checkable
class Storage(Protocol):
    """What the Raft node needs from a key-value store. Keys and values are bytes."""

    def get(self, key: bytes) -> bytes | None: ...
    def get_many(self, keys: Iterable[bytes]) -> list[bytes | None]: ...
    def set(self, key: bytes, value: bytes, sync: bool = True) -> None: ...
    def delete(self, key: bytes, sync: bool = True) -> None: ...
    def delete_range(self, start: bytes, end: bytes, sync: bool = True) -> None: ...
    def batch(self) -> Batch: ...
    def write_many(self, items: Iterable[tuple[bytes, bytes]], sync: bool = True) -> None: ...
    def iterate(self, lower: bytes | None = None, upper: bytes | None = None,
                reverse: bool = False, limit: int | None = None,
                prefix: bytes | None = None) -> Iterator[tuple[bytes, bytes]]: ...
    def scan(self, lower: bytes | None = None, upper: bytes | None = None,
             reverse: bool = False, limit: int | None = None,
             prefix: bytes | None = None) -> list[tuple[bytes, bytes]]: ...
    def checkpoint(self, directory) -> None: ...
    def flush(self) -> None: ...
    def metrics(self) -> dict: ...
    def estimate_disk_usage(self, start: bytes, end: bytes) -> int: ...
    def close(self) -> None: ...


class StoreMixin:
    """Operations every store derives from its batch and iterator primitives."""

    _spill_bytes = 1 << 62  # stores that can stream big batches lower this

    def batch(self) -> Batch:
        return Batch(self)

    # A store without its own streaming keeps the spilled part in memory.
    def _spill_new(self):
        return bytearray()

    def _spill_add(self, spill: bytearray, buf: bytearray) -> None:
        spill += buf

    def _spill_commit(self, spill: bytearray, sync: bool) -> None:
        self._write_packed(spill, sync)

    def _spill_free(self, spill) -> None:
        pass

    def set(self, key: bytes, value: bytes, sync: bool = True) -> None:
        buf = bytearray()
        pack_op(buf, OP_SET, _as_bytes(key, "key"), _as_bytes(value, "value"))
        self._write_packed(buf, sync)

    def delete(self, key: bytes, sync: bool = True) -> None:
        buf = bytearray()
        pack_op(buf, OP_DELETE, _as_bytes(key, "key"))
        self._write_packed(buf, sync)

    def delete_range(self, start: bytes, end: bytes, sync: bool = True) -> None:
        b = self.batch()
        b.delete_range(start, end)
        b.commit(sync)

    def write_many(self, items: Iterable[tuple[bytes, bytes]], sync: bool = True) -> None:
        """Set many keys atomically in one call (one foreign call for Pebble)."""
        self._write_packed(pack_sets(items), sync)

    def scan(self, lower=None, upper=None, reverse=False, limit=None, prefix=None):
        return list(self.iterate(lower, upper, reverse=reverse, limit=limit, prefix=prefix))

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
