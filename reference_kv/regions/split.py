"""When and where a Region splits.

Size: the larger of the bytes a scan of the range reads (live data) and
Pebble's estimate for the range (flushed sstables, overwritten versions
included until compaction) plus the bytes written into the Region since the
last memtable flush (what the estimate cannot see yet). That is the
"approximate size" of an LSM range, memtable included, the way RocksDB's
approximate sizes count it: a Region that takes many overwrites grows until a
compaction drops the old versions, so write-heavy ranges split early.
Where: the first key at which the running total reaches half the range, kept
strictly inside the Region so both halves own something.
"""
from __future__ import annotations

import asyncio
import logging

from reference_kv import errors
from reference_kv.raft.types import Role
from reference_kv.regions.commands import SPLIT
from reference_kv.regions.compaction import maybe_compact
from reference_kv.regions.layout import data_bounds, user_key
from reference_kv.regions.meta import ALLOC_ID
from reference_kv.regions.region import Region

log = logging.getLogger("reference_kv.regions")


def choose_split_key(sizes, region: Region, total: int) -> str | None:
    """sizes: (user key, bytes) in key order; -> the split key near the middle, or None."""
    acc = 0
    for key, n in sizes:
        acc += n
        if acc * 2 >= total and region.inside(key):
            return key
    return None


def split_limit(requests_per_s: float, hot_qps: float, split_size: int) -> int:
    """A hot Region (by request rate) splits at a quarter of the size, spreading its load over two groups."""
    return split_size // 4 if hot_qps and requests_per_s >= hot_qps else split_size


def _sizes(db, region: Region):
    lo, hi = data_bounds(region.start, region.end)
    for k, v in db.iterate(lo, hi):
        yield user_key(k), len(k) + len(v)


def measure(db, region: Region) -> tuple[int, int]:
    """Storage thread: (bytes a scan reads, Pebble's on-disk estimate) of the Region's data."""
    lo, hi = data_bounds(region.start, region.end)
    return sum(n for _, n in _sizes(db, region)), db.estimate_disk_usage(lo, hi)


def find_split_key(db, region: Region, limit: int, unflushed: int = 0) -> str | None:
    """Storage thread: a split key if the Region holds `limit` bytes or more, else None."""
    scanned, estimate = measure(db, region)
    if max(scanned, estimate + unflushed) < limit or not scanned:
        return None
    return choose_split_key(_sizes(db, region), region, scanned)


class SplitDriver:
    """Every `split_check_s`: log compaction where it is due, and a size check of each Region this
    store leads that took enough writes since the last one; above the limit, a split through its log."""

    def __init__(self, store):
        self.store = store

    def _flush_count(self) -> int:
        try:
            return int(self.store.db.metrics().get("flush_count", 0))
        except Exception:  # a store without metrics never flushes
            return 0

    async def loop(self) -> None:
        s = self.store
        flushes = self._flush_count()
        while True:
            await s.clock.sleep(s.cfg.split_check_s)
            now = self._flush_count()
            if now != flushes:  # the memtable went to sstables: Pebble's estimate counts it now
                flushes = now
                for p in s.data_peers():
                    p.unflushed = 0
            for p in list(s.peers.values()):
                maybe_compact(p, s.cfg.snapshot_every)
            for p in s.data_peers():
                if p.merging is not None:
                    continue
                limit = split_limit(p.requests / s.cfg.split_check_s, s.cfg.hot_qps, s.cfg.split_size)
                p.requests = 0
                if p.role == Role.LEADER and not p.splitting and p.written >= max(1, limit // 8):
                    p.written = 0
                    p.splitting = True
                    asyncio.get_running_loop().create_task(self._maybe_split(p, limit))

    async def _maybe_split(self, p, limit: int) -> None:
        s = self.store
        try:
            region = p.region
            # Off the storage lane: a scan there would hold up every group's writes. Pebble reads run
            # beside batch commits; the key is only a proposal, the log decides.
            key = await s.scan(find_split_key, s.db, region, limit, p.unflushed)
            if key is None:
                return
            new_id = await s.metaclient.call(ALLOC_ID, None)
            ok = await p.command(SPLIT, key, new_id, region.epoch.version, None)
            if ok is not True:
                log.info("store %d: split of region %d at %r refused (%s)", s.id, p.id, key, ok)
        except errors.KVError as e:
            log.info("store %d: split of region %d not done: %s", s.id, p.id, e)
            p.written = s.cfg.split_size  # try again at the next check
        except Exception:
            log.exception("split of region %d", p.id)
        finally:
            p.splitting = False
