"""When two adjacent small Regions merge, and how (the protocol lives in store.py).

Two steps, each through a Raft log, driven by the store that leads both:

1. prepare (`v`) in the source's log at index P: the source stops owning any
   key (every later command in its log gets EPOCH_NOT_MATCH, its reads are
   refused) and its epoch version grows, so stale routes get 409.
2. commit (`M`) in the target's log, proposed once every source replica has
   P in its log: each target replica first applies its own source replica's
   log up to P (the entries are on its disk, committed), then widens its range
   over the source's, takes the source's sessions (a retry of a write the
   source applied must not apply twice) and the source replica is destroyed.

No rollback: a prepared source only ever goes to the neighbour on the side it
named, re-driven until one commit applies there (a commit proposed against an
old epoch of the target fails the same way on every replica).
"""
from __future__ import annotations

from reference_kv.regions.layout import data_bounds
from reference_kv.regions.region import Region


def live_size(db, region: Region, cap: int) -> int:
    """Bytes of live data in the Region, counting stops at `cap` (only "below the limit?" matters)."""
    lo, hi = data_bounds(region.start, region.end)
    total = 0
    for k, v in db.iterate(lo, hi):
        total += len(k) + len(v)
        if total >= cap:
            break
    return total


def merge_candidate(me: int, regions: list[Region], leaders: dict[int, int], sizes: dict[int, int],
                    merge_size: int, split_size: int, busy=frozenset()):
    """-> ("merge", source_id, target_id) when this store leads a small Region and its small left
    neighbour,
    ("transfer", source_id, node) to hand the source to the node leading its small neighbour
    (only toward a lower node id, so two stores never swap their halves back and forth), or None."""
    if not merge_size:
        return None
    by_start = sorted(regions, key=lambda r: r.start)
    for i, src in enumerate(by_start):
        if leaders.get(src.id) != me or src.id in busy or sizes.get(src.id, merge_size) >= merge_size:
            continue
        # The left neighbour absorbs: Region 1 (from "") is never a source, so the Region a store
        # with a wiped data dir bootstraps with still exists and is filled by a snapshot.
        for dst in by_start[i - 1:i] if i else ():
            if dst.id in busy or src.side_of(dst) is None or dst.peers != src.peers:
                continue
            size = sizes.get(dst.id, merge_size)
            if size >= merge_size or size + sizes[src.id] >= split_size:
                continue
            lead = leaders.get(dst.id)
            if lead == me:
                return ("merge", src.id, dst.id)
            if lead and lead < me:
                return ("transfer", src.id, lead)
    return None
