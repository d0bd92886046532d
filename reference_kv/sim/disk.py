"""A disk that keeps what was synced apart from what was only written.

`SimDisk` is MemoryStorage whose commits with sync=False stay volatile until
the next synced commit (which syncs everything before it, as a WAL does);
`Disks.crash(path)` keeps only the synced part, `Disks.wipe(path)` loses
everything. `Disks.open` is the node's `open_storage(path, from_checkpoint)`.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from reference_kv.storage.memory import MemoryStorage


class SimDisk(MemoryStorage):
    def __init__(self) -> None:
        super().__init__()
        self.durable: list[bytes] = []  # synced batches, oldest first (compacted on crash)
        self.unsynced: list[bytes] = []
        self.syncs = 0

    def _write_packed(self, buf: bytearray, sync: bool) -> None:
        super()._write_packed(buf, sync)
        self.unsynced.append(bytes(buf))
        if sync:
            self.durable += self.unsynced
            self.unsynced = []
            self.syncs += 1

    def survivor(self, keep: int = 0) -> "SimDisk":
        """What a power loss leaves: a disk holding the synced writes, and of the unsynced ones
        the first `keep` batches (written back in order; a batch is whole or absent, as a WAL
        record with its checksum is)."""
        d = SimDisk()
        kept = self.durable + self.unsynced[:keep]
        for b in kept:
            MemoryStorage._write_packed(d, bytearray(b), True)
        d.durable = list(kept)
        return d

    def reopened(self) -> "SimDisk":
        """After a clean stop (or a crash that kept the page cache): everything written is there."""
        d = self.survivor()
        for b in self.unsynced:
            MemoryStorage._write_packed(d, bytearray(b), False)
        d.unsynced = list(self.unsynced)
        return d


class Disks:
    """Every node's disk by path; `open` is the node's storage opener."""

    def __init__(self) -> None:
        self.disks: dict[Path, SimDisk] = {}
        self.fail_opens: set[Path] = set()  # the next open of these paths fails (a crash at that instant)

    def open(self, path, from_checkpoint: bool = False) -> SimDisk:
        path = Path(path)
        if path in self.fail_opens:
            self.fail_opens.discard(path)
            raise OSError(f"simulated crash opening {path}")
        if from_checkpoint:
            src = MemoryStorage.open(path)
            d = SimDisk()
            with src._lock:
                items = [(k, src._data[k]) for k in src._keys]
            d.write_many(items, sync=True)
            self.disks[path] = d
            return d
        old = self.disks.get(path)
        d = SimDisk() if old is None else old.reopened()
        self.disks[path] = d
        return d

    def crash(self, path, keep: int = 0) -> None:
        """Power loss: unsynced writes are gone, but for a prefix of `keep` batches."""
        path = Path(path)
        if path in self.disks:
            self.disks[path] = self.disks[path].survivor(keep)

    def wipe(self, data_dir) -> None:
        """The node's whole data directory is lost."""
        data_dir = Path(data_dir)
        for p in [p for p in self.disks if p == data_dir or data_dir in p.parents]:
            del self.disks[p]
        shutil.rmtree(data_dir, ignore_errors=True)
