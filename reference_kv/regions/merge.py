"""When two adjacent small Regions merge, and the driver that merges them (the apply is in commands.py).

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

import asyncio
import logging

from reference_kv import errors
from reference_kv.raft.types import NONE, Role
from reference_kv.regions.commands import COMMIT_MERGE, PREPARE_MERGE
from reference_kv.regions.layout import data_bounds
from reference_kv.regions.region import Region

log = logging.getLogger("reference_kv.regions")


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


def replicas_have(p, index: int) -> bool:
    """Every voter of the group (as its leader sees them) has the log up to index on its disk."""
    progress = p.raw.status().get("progress") or {}
    return bool(progress) and all(pr["match"] >= index and pr["state"] == "replicate"
                                  for pr in progress.values() if not pr.get("learner"))


class MergeDriver:
    """A store's merge rounds: pick a small Region this store leads and its small left neighbour,
    prepare it, then commit it into the neighbour; and drive any prepared source to its end."""

    def __init__(self, store):
        self.store = store
        self.small: set[int] = set()  # Regions below the merge size at the last round (see balance)

    async def loop(self) -> None:
        s = self.store
        if not s.cfg.merge_limit():
            return
        while True:
            await s.clock.sleep(s.cfg.merge_check_s)
            try:
                await self.round()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("merge round")

    async def round(self) -> None:
        s = self.store
        data = s.data_peers()
        for p in data:
            if p.merging is not None and p.role == Role.LEADER and not p.splitting:
                self._drive_prepared(p)
        if any(p.merging is not None for p in data):
            return  # one merge at a time per store
        if not any(p.role == Role.LEADER and not p.splitting for p in data):
            return
        limit = s.cfg.merge_limit()
        sizes = {}
        for p in data:  # live bytes (deleted data is what makes a Region small), the scan capped at the limit
            sizes[p.id] = await s.scan(live_size, s.db, p.region, limit)
        self.small = {rid for rid, size in sizes.items() if size < limit}
        leaders = {p.id: (s.id if p.role == Role.LEADER else p.leader) for p in data}
        pick = merge_candidate(s.id, [p.region for p in data], leaders, sizes, limit, s.cfg.split_size,
                               busy={p.id for p in data if p.splitting or p.merging is not None})
        if pick is None:
            return
        action, rid, other = pick
        src = s.peers[rid]
        if action == "transfer":
            log.info("store %d: region %d is small; its leader moves to node %d to merge it", s.id, rid, other)
            _transfer(src, other)
            return
        self._spawn(src, s.peers[other], prepare=True)

    def _drive_prepared(self, src) -> None:
        """A prepared source (ours, maybe from a restart or a lost leader) goes to its neighbour."""
        s = self.store
        side = src.merging[0]
        dst = next((p for p in s.data_peers() if p is not src and p.merging is None
                    and src.region.side_of(p.region) == side), None)
        if dst is None:
            return
        if dst.role == Role.LEADER:
            if not dst.splitting:
                self._spawn(src, dst, prepare=False)
        elif dst.leader not in (NONE, s.id):
            _transfer(src, dst.leader)  # its leader drives the commit

    def _spawn(self, src, dst, prepare: bool) -> None:
        src.splitting = dst.splitting = True  # no split, balancing or second merge meanwhile
        task = asyncio.get_running_loop().create_task(self._merge(src, dst, prepare))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _merge(self, src, dst, prepare: bool) -> None:
        s = self.store
        try:
            if prepare:
                # A prepared source serves nothing until every replica has its prepare: only start
                # with every replica of both caught up, so a node that is down cannot hold it there.
                if not (replicas_have(src, src.applied) and replicas_have(dst, dst.applied)):
                    return
                side = src.region.side_of(dst.region)
                index = await src.command(PREPARE_MERGE, src.region.start, side, src.region.epoch.version, None)
                if isinstance(index, bool) or not isinstance(index, int):
                    return
                log.info("store %d: region %d prepared to merge into %d at %d", s.id, src.id, dst.id, index)
            index = src.merging[1]
            # Each target replica applies its source replica's log up to the prepare from its own
            # disk: wait until every source replica has it there.
            deadline = s.clock.now() + s.cfg.request_timeout
            while True:
                if src.role != Role.LEADER or s.peers.get(src.id) is not src:
                    return
                if replicas_have(src, index):
                    break
                if s.clock.now() > deadline:
                    return
                await s.clock.sleep(s.cfg.tick_ms / 1000)
            ok = await dst.command(COMMIT_MERGE, dst.region.start, src.region.to_json(),
                                   [dst.region.epoch.version, index], None)
            if ok is not True:
                log.info("store %d: merge of region %d into %d refused; asked again later", s.id, src.id, dst.id)
        except errors.KVError as e:
            log.info("store %d: merge of region %d into %d not done: %s", s.id, src.id, dst.id, e)
        finally:
            src.splitting = dst.splitting = False


def _transfer(p, to: int) -> None:
    try:
        p.start_transfer(to)
    except errors.NotLeader:
        pass
