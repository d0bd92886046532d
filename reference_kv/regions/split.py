"""When and where a Region splits.

Size: the larger of Pebble's estimate for the Region's data range (counts
only flushed sstables) and the bytes a scan of the range reads (counts the
memtable too), so small split sizes work before the first flush.
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


def _sizes(db, region: Region):
    lo, hi = data_bounds(region.start, region.end)
    for k, v in db.iterate(lo, hi):
        yield user_key(k), len(k) + len(v)


def measure(db, region: Region) -> tuple[int, int]:
    """Storage thread: (bytes a scan reads, Pebble's on-disk estimate) of the Region's data."""
    lo, hi = data_bounds(region.start, region.end)
    return sum(n for _, n in _sizes(db, region)), db.estimate_disk_usage(lo, hi)


def find_split_key(db, region: Region, limit: int) -> str | None:
    """Storage thread: a split key if the Region holds `limit` bytes or more, else None."""
    scanned, estimate = measure(db, region)
    if max(scanned, estimate) < limit or not scanned:
        return None
    return choose_split_key(_sizes(db, region), region, scanned)
