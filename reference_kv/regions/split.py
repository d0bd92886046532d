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

from reference_kv.regions.layout import data_bounds, user_key
from reference_kv.regions.region import Region


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
