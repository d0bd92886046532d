"""One node of the multi-Raft KV: many Region replicas over one transport, store, ticker and storage thread.

Every Ready of every group that has one is persisted in ONE storage batch
(one fsync for all of them), then their messages go out and their clients are
answered, as in the single-group node. Raft frames carry the Region id
(`[region_id, message]` under transport kind REGION_RAFT); a frame for a
Region this store does not host yet (it has not applied the split that
creates it) is dropped, and Raft resends.

A Region leader measures its data range every `split_check_s` once enough was
written; above `split_size` it takes a new id from the meta group and proposes
the split through its own log, so every replica splits at the same index:
the parent keeps [start, key), the new Region takes [key, end), both at
epoch.version + 1 with the parent's peers and a copy of its sessions (a
client's retry may land on either half). Leaders publish their Regions (and
themselves as leader) to the meta group after a split or a leader change.

Logs are compacted through the log (`g`, see _apply_log_gc) every
`snapshot_every` entries, up to what every voter holds or, when a voter lags
further than that, up to the leader's applied index: a replica that needs
what is gone gets a Region snapshot (snapshot.py), streamed in chunks. A
store that hears from a Region it does not host (its data dir was wiped, or
it missed the split that made it) creates an empty replica for it that owns
nothing and takes no entries from the start of the log: it is filled by a
snapshot, or replaced when the split applies here. Not done: membership
changes of Regions.

Two small adjacent Regions merge through both logs (merge.py has the
protocol): a prepare in the source's log, then a commit in the target's log
that each replica applies only after its own source replica applied the
prepare; the source replica is then destroyed.
"""
from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import random
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import msgpack

from reference_kv import identity, process
from reference_kv.runner import threads
from reference_kv import errors, readmodes
from reference_kv.node import NodeConfig
from reference_kv.replica import AsyncioClock, ticker
from reference_kv.raft.types import (
    NONE, ConfState, EntryType, Message, MsgType, Role, SnapshotMeta, conf_to_wire, entry_from_wire, from_wire, to_wire,
)
from reference_kv.regions import layout, meta
from reference_kv.regions.peer import RegionPeer
from reference_kv.regions.region import Epoch, Region, RegionMap
from reference_kv.regions.balance import pick_transfer
from reference_kv.regions.merge import live_size, merge_candidate
from reference_kv.regions.split import find_split_key, split_limit
from reference_kv.regions import snapshot
from reference_kv.snapshot_transfer import FRAME_LIMITS as SNAPSHOT_FRAME_LIMITS, SnapshotTransfer
from reference_kv.statemachine import EPOCH_NOT_MATCH, META_CONF, Applied, StateMachine, log_key
from reference_kv.transport import RAFT_FRAME_LIMIT

log = logging.getLogger("reference_kv.regions")

REGION_RAFT = 16
REGION_SNAP = 17  # [region_id, snapshot_transfer kind, payload]
WANT_SNAP = 18  # [region_id, node]: an empty replica asks the leader for a snapshot
META_CALL = 19  # [call id, from, op, arg]: propose op at the meta group, where the receiver leads it
META_REPLY = 20  # [call id, ok, result]
# The largest frame of each kind this store reads; the transport closes connections sending any other
# kind, so a new kind gets its line here. Region frames wrap a group's message in [region_id, ...].
FRAME_LIMITS = {REGION_RAFT: RAFT_FRAME_LIMIT + 64, REGION_SNAP: max(SNAPSHOT_FRAME_LIMITS.values()) + 64,
                WANT_SNAP: 64, META_CALL: 1 << 20, META_REPLY: 1 << 20,
                identity.IDENTITY: identity.FRAME_LIMIT}
WANT_EVERY_S = 1.0
EARLY_REGIONS, EARLY_MESSAGES, EARLY_TTL_S = 16, 64, 2.0  # messages held for Regions not created yet
UNKNOWN_REGION_S = 1.0  # held this long with no split creating it: an empty replica takes them


@dataclass
class StoreConfig(NodeConfig):
    split_size: int = 64 << 20
    split_check_s: float = 0.25
    publish_s: float = 0.5
    hot_qps: float = 0.0  # requests/s above which a Region splits at a quarter of split_size (0 = off)
    balance_s: float = 1.0  # leader balancing round (0 = off)
    merge_size: int | None = None  # adjacent Regions both below this merge (None = split_size // 8, 0 = off)
    merge_check_s: float = 1.0

    def merge_limit(self) -> int:
        return self.split_size // 8 if self.merge_size is None else self.merge_size


class Store:
    def __init__(self, cfg: StoreConfig, open_storage, transport, clock=None, runners=None, rng=None, fatal=None):
        """As node.Node: runners(name) -> Runner for the storage lane and scans, rng the store's only
        randomness, fatal(what, exc) for an unrecoverable error."""
        self.cfg = cfg
        self.id = cfg.id
        self.read_mode = cfg.read_mode
        self.clock = clock or AsyncioClock()
        self.transport = transport
        self._open_storage = open_storage
        self.rng = rng or random.Random(cfg.seed)
        self._fatal = fatal or process.exit_now
        runners = runners or threads
        self._exec = runners("storage")
        self._scan = runners("scan")  # range scans and file work, off the storage lane
        self.peers: dict[int, RegionPeer] = {}
        self.meta: RegionPeer | None = None  # the meta group's replica, once the store is a member
        self.running: asyncio.Future | None = None  # done when the store runs; a Refused exception if it may not
        self.incarnation = self.rng.getrandbits(48).to_bytes(6, "big").hex()  # a restart, as the suite's monitor tells it
        self.splits = 0
        self.merges = 0
        # Regions below the merge size at the last merge round: the balancer leaves their leaders
        # where a merge wants them (it moved them back each second, and no merge ever started).
        self._small: set[int] = set()
        self.compactions = 0
        self.elections = 0
        self.leader_changes = 0
        self._published: dict[int, tuple] = {}
        self._early: dict[int, list] = {}
        self._gone: set[int] = set()  # Regions merged away here: their late messages are dropped
        self._transfers: dict[int, SnapshotTransfer] = {}
        self._sending: set[tuple[int, int]] = set()
        self.snapshots_sent = 0
        self.snapshots_installed = 0
        self._calls: dict[int, asyncio.Future] = {}
        self._call_ids = itertools.count(1)
        self._tasks: list[asyncio.Task] = []
        self._wake: asyncio.Event | None = None
        self._publish_now: asyncio.Event | None = None

    # --- lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        self._wake, self._publish_now = asyncio.Event(), asyncio.Event()
        Path(self.cfg.data_dir).mkdir(parents=True, exist_ok=True)
        self.db = await self._io(self._open_storage, Path(self.cfg.data_dir) / "db", False)
        hosted = await self._io(self._hosted)
        if not hosted and not self.cfg.peers:
            raise ValueError("a fresh region store needs --peers (joining is not supported)")
        self.transport.on_frame = self._on_frame
        self.transport.on_unreachable = self._on_unreachable
        self.transport.limits = FRAME_LIMITS
        self.transport.addresses.pop(self.id, None)
        fresh = not hosted
        self.running = asyncio.get_running_loop().create_future()
        self.formation, must_form = await identity.prepare(
            self._io, self.db, self.id, fresh, self.cfg.join, self.rng, self.cfg.data_dir, self.cfg.peers,
            self.transport.send, self.clock, self._meta_conf, self.cfg.peers.get(self.id, ""))
        await self.transport.start()
        if must_form:
            self._tasks = [asyncio.get_running_loop().create_task(self._form_then_begin(hosted, fresh))]
        else:
            await self._begin(hosted)

    async def _form_then_begin(self, hosted, fresh: bool) -> None:
        try:
            await identity.form(self.formation, self._io, self.db, fresh)
            await self._begin(hosted)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a refusal names the remedy; the process exits with it
            if not self.running.done():
                self.running.set_exception(e)

    async def _begin(self, hosted) -> None:
        """The meta group, the hosted Regions and the store's loops, once this store may run."""
        if not hosted:
            hosted = await self._io(self._bootstrap)
        self.meta = await self._open_peer(layout.META_REGION, None)
        for region in hosted:
            await self._open_peer(region.id, region)
        loop = asyncio.get_running_loop()
        self._last_tick = self.clock.now()
        self._tasks += [loop.create_task(ticker(self.clock, self.cfg.tick_ms / 1000, self.peers.values,
                                                self._after_tick))]
        self._tasks += [loop.create_task(f()) for f in (self._ready_loop, self._split_loop, self._publish_loop,
                                                        self._balance_loop, self._merge_loop)]
        if not self.running.done():
            self.running.set_result(None)
        log.info("store %d started: %d regions", self.id, len(hosted))

    def _meta_conf(self):
        meta = self.peers.get(layout.META_REGION)
        if meta is None:
            return None
        st = meta.raw.status()
        return st["voters"], st["learners"], st["applied"]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.transport.close()
        await self._io(self.db.close)
        self._exec.shutdown()
        self._scan.shutdown()

    async def _io(self, fn, *args):
        return await self._exec.run(fn, *args)

    def wake(self) -> None:
        self._wake.set()

    def _hosted(self) -> list[Region]:
        lo = layout.LOCAL_REGION
        return [Region.unpack(v) for _, v in self.db.iterate(lo, lo + b"\xff")]

    def _bootstrap(self) -> list[Region]:
        """Storage thread: a brand-new cluster is the meta group and one Region over all keys."""
        voters = tuple(sorted(self.cfg.peers))
        first = Region(layout.FIRST_REGION, "", "", Epoch(1, 1), voters)
        conf = msgpack.packb(conf_to_wire(ConfState(voters, ())), use_bin_type=True)
        b = self.db.batch()
        for rid in (layout.META_REGION, first.id):
            b.set(layout.group_prefix(rid) + META_CONF, conf)
        for k, v in meta.bootstrap_entries(first):
            b.set(k, v)
        b.set(layout.local_region_key(first.id), first.pack())  # last: its presence means "bootstrapped"
        b.commit(sync=True)
        return [first]

    async def _open_peer(self, rid: int, region: Region | None, uninit: bool = False) -> RegionPeer:
        peer = RegionPeer(self, rid, None, region)
        peer.uninit = uninit
        gc = {"g": functools.partial(self._apply_log_gc, peer)}
        if region is None:
            peer.sm = StateMachine(self.db, self.cfg.unsafe_bug, layout.group_prefix(rid),
                                   data_prefix=layout.META_DATA, extra_ops={**meta.META_OPS, **gc})
        else:
            # A prepared merge source owns nothing: every later command in its log is refused.
            peer.sm = StateMachine(self.db, self.cfg.unsafe_bug, layout.group_prefix(rid),
                                   owns=lambda key: not peer.uninit and peer.merging is None
                                   and peer.region.contains(key),
                                   extra_ops={"s": functools.partial(self._apply_split, peer),
                                              "v": functools.partial(self._apply_prepare_merge, peer),
                                              "M": functools.partial(self._apply_commit_merge, peer), **gc})
            marker = await self._io(self.db.get, layout.merging_key(rid))
            peer.merging = tuple(msgpack.unpackb(marker, raw=False)) if marker else None
        loaded = await self._io(peer.sm.load)
        peer.boot(loaded, self.cfg)
        peer.compacted = loaded.snapshot.index if loaded.snapshot else 0
        self.peers[rid] = peer
        return peer

    def data_peers(self) -> list[RegionPeer]:
        return [p for p in self.peers.values() if p.region is not None and not p.uninit]

    # --- inputs ----------------------------------------------------------------------
    def _on_frame(self, kind: int, payload) -> None:
        if kind == identity.IDENTITY:
            self.formation.on_frame(payload)
            return
        if kind == META_CALL:
            self._on_meta_call(payload)
            return
        if kind == META_REPLY:
            self._on_meta_reply(payload)
            return
        if kind == WANT_SNAP:
            self._on_want_snapshot(*payload)
            return
        if kind == REGION_SNAP:
            # The Region id names a directory: only a real id, never a string from the wire.
            if not (isinstance(payload, list) and len(payload) == 3 and type(payload[0]) is int
                    and 0 <= payload[0] < 1 << 63):
                log.warning("store %d: region snapshot frame with a bad region id refused", self.id)
                return
            rid, k, inner = payload
            if rid not in self._gone:
                self._transfer(rid).on_frame(k, inner)
            return
        if kind != REGION_RAFT:
            return
        rid, wire = payload
        peer = self.peers.get(rid)
        if peer is None:
            if rid not in self._gone:
                self._hold_early(rid, wire)
            return
        self._step(peer, wire)

    def _step(self, peer: RegionPeer, wire) -> None:
        try:
            m = from_wire(wire)
            if self._wants_snapshot(peer, m):
                now = self.clock.now()
                if now - peer.wanted_at >= WANT_EVERY_S:
                    peer.wanted_at = now
                    self.transport.send(m.frm, WANT_SNAP, [peer.id, self.id])
                if peer.uninit and m.type == MsgType.APP and m.index == 0:
                    return  # the log from its start would apply with no range known: wait for the snapshot
            peer.raw.step(m)
        except Exception as e:  # a message the core rejects must not kill the store
            log.debug("region %d step: %s", peer.id, e)
        self._wake.set()

    @staticmethod
    def _wants_snapshot(peer: RegionPeer, m) -> bool:
        """An empty replica (stand-in, or a wiped store's fresh one) hearing from a leader whose
        progress for it may be stale (it remembers what we held before the wipe, and ignores our
        rejects below that): only a snapshot pushed by its store gets us going."""
        if m.type not in (MsgType.APP, MsgType.HEARTBEAT):
            return False
        if peer.uninit:
            return True
        return peer.sm.last_index == 0 and (m.index > 0 if m.type == MsgType.APP else m.commit > 0)

    def _on_want_snapshot(self, rid: int, node: int) -> None:
        p = self.peers.get(rid)
        if p is None or p.uninit or p.role != Role.LEADER:
            return
        pr = (p.raw.status().get("progress") or {}).get(node)
        # Not below what the leader thinks it holds: entries up to there would never be resent.
        if pr is not None and p.sm.applied >= pr["match"]:
            self._start_snapshot_send(p, Message(MsgType.SNAP, node, self.id, p.term))

    def _hold_early(self, rid: int, wire) -> None:
        """A message for a Region whose split this store has not applied yet (the new half's
        leader campaigns the moment its own store applies it): kept briefly and delivered
        when the Region is created here, so the election does not wait out a timeout."""
        if rid < layout.FIRST_REGION or (rid not in self._early and len(self._early) >= EARLY_REGIONS):
            return
        held = self._early.setdefault(rid, [])
        if len(held) < EARLY_MESSAGES:
            held.append((self.clock.now(), wire))

    def _on_unreachable(self, node: int) -> None:
        for p in self.peers.values():
            p.raw.report_unreachable(node)

    async def _after_tick(self, now: float) -> None:
        for rid in [r for r, held in self._early.items() if now - held[0][0] > UNKNOWN_REGION_S]:
            held = self._early.pop(rid)
            if rid in self.peers or rid in self._gone:
                continue
            # No split made it here in time: a Region we lost track of (wiped or behind a compaction).
            log.info("store %d: region %d unknown here; an empty replica waits for its snapshot", self.id, rid)
            p = await self._open_peer(rid, Region(rid), uninit=True)
            for _, wire in held:
                self._step(p, wire)
        self._wake.set()

    # --- the ready loop: all groups, one batch ---------------------------------------
    async def _ready_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while True:
                work = [(p, p.raw.ready()) for p in list(self.peers.values()) if p.raw.has_ready()]
                if not work:
                    break
                await process.or_exit(self._handle(work), self._fatal)

    async def _handle(self, work) -> None:
        for p, rd in work:
            if rd.soft_state is not None:
                self._on_soft_state(p, rd.soft_state)
            if rd.snapshot is not None:
                await self._install_snapshot(p, rd.snapshot, rd.hard_state or p.hard)
            for source_id, index in _merge_commits(rd.committed_entries):
                src = self.peers.get(source_id)
                if src is not None and src.sm.applied < index:
                    src.on_applied(await self._io(self._catch_up, src, index))

        def persist():
            b = self.db.batch()
            sync = False
            out = []
            for p, rd in work:
                hs = rd.hard_state
                if hs is not None and (hs.term, hs.vote) != (p.hard.term, p.hard.vote):
                    sync = True
                sync = sync or bool(rd.must_sync or rd.entries)
                out.append(p.sm.persist_and_apply(rd.entries, hs, rd.committed_entries, False, batch=b))
            b.commit(sync=sync)
            return out

        if any(rd.entries or rd.hard_state is not None or rd.committed_entries for _, rd in work):
            results = await self._io(persist)
        else:  # heartbeats and their answers: nothing to write, no trip to the storage thread
            results = [Applied(index=p.sm.applied, term=p.sm.applied_term) for p, _ in work]
        created = []
        for (p, rd), applied in zip(work, results):
            if rd.hard_state is not None:
                p.on_hard_state(rd.hard_state)
            for m in rd.messages:
                if m.type == MsgType.SNAP:
                    self._start_snapshot_send(p, m)
                    continue
                self.transport.send(m.to, REGION_RAFT, [p.id, to_wire(m)])
            p.on_applied(applied)
            p.raw.advance(rd)
            for rs in rd.read_states:
                p.on_read_state(rs.index, rs.ctx)
            for snap in p.compactions:
                p.raw.compact(snap.index, snap)
                self.compactions += 1
            p.compactions = []
            if p.new_regions:
                created += [(p, r) for r in p.new_regions]
                p.new_regions = []
            for source_id in p.merged:
                await self._destroy(source_id, p)
            p.merged = []
        for parent, region in created:
            if region.id in self.peers:
                if not self.peers[region.id].uninit:
                    continue
                del self.peers[region.id]  # the empty stand-in: the split's replica replaces it
            child = await self._open_peer(region.id, region)
            for _, wire in self._early.pop(region.id, []):
                self._step(child, wire)
            child.unflushed = parent.unflushed = parent.unflushed // 2
            self.splits += 1
            log.info("store %d: region %d split at %r: new region %d", self.id, parent.id, region.start, region.id)
            if parent.role == Role.LEADER:
                child.raw.campaign()  # the parent's leader takes the new half at once (no election timeout)
                self._wake.set()
            self._publish_now.set()

    def _on_soft_state(self, p: RegionPeer, ss) -> None:
        if ss.role in (Role.CANDIDATE, Role.PRE_CANDIDATE) and p.role not in (Role.CANDIDATE, Role.PRE_CANDIDATE):
            self.elections += 1
        if ss.leader != p.leader:
            self.leader_changes += 1
        p.on_soft_state(ss)
        if ss.role == Role.LEADER:
            self._publish_now.set()

    # --- split ------------------------------------------------------------------------
    def _apply_split(self, peer: RegionPeer, sm, b, key, new_id, version, overlay):
        """Storage thread, inside the parent's apply batch: the split at this log index."""
        region = peer.region
        # Decided from the log alone (epoch and key), never from local state: every replica must agree.
        if version != region.epoch.version or not region.inside(key):
            return False
        left, right = region.split(key, new_id)
        b.set(layout.local_region_key(left.id), left.pack())
        b.set(layout.local_region_key(right.id), right.pack())
        b.set(layout.group_prefix(right.id) + META_CONF,
              msgpack.packb(conf_to_wire(sm.conf), use_bin_type=True))
        for cid, results in sm.sessions().items():
            b.set(layout.session_key(right.id, cid), msgpack.packb(results, use_bin_type=True))
        peer.region = left
        peer.new_regions.append(right)
        return True

    # --- merge (see merge.py) ------------------------------------------------------------
    def _apply_prepare_merge(self, peer: RegionPeer, sm, b, key, side, version, overlay):
        """Storage thread, source's log: from this index on the source owns nothing."""
        region = peer.region
        if peer.merging is not None or version != region.epoch.version or side not in ("left", "right"):
            return False
        region = replace(region, epoch=Epoch(region.epoch.conf_ver, region.epoch.version + 1))
        b.set(layout.local_region_key(region.id), region.pack())
        b.set(layout.merging_key(region.id), msgpack.packb([side, sm.applied], use_bin_type=True))
        peer.region, peer.merging = region, (side, sm.applied)
        return sm.applied

    def _catch_up(self, src: RegionPeer, index: int) -> Applied:
        """Storage thread: apply the source replica's own log up to its prepare (committed: the
        commit was proposed only once every source replica had it), before the target takes over."""
        sm = src.sm
        lo, hi = layout.group_prefix(src.id) + log_key(sm.applied + 1), layout.group_prefix(src.id) + log_key(index + 1)
        entries = [entry_from_wire(msgpack.unpackb(v, raw=False)) for _, v in self.db.iterate(lo, hi)]
        b = self.db.batch()
        out = sm._apply(b, entries)
        b.commit(sync=False)  # the commit's own batch, synced, follows it in the WAL
        return out

    def _apply_commit_merge(self, peer: RegionPeer, sm, b, key, source_desc, arg, overlay):
        """Storage thread, target's log: absorb the prepared source next to us."""
        version, index = arg
        region, source = peer.region, Region.from_json(source_desc)
        src = self.peers.get(source.id)
        if version != region.epoch.version or src is None or src.merging is None:
            return False  # the target changed since (or the source is gone): the driver asks again
        if source.side_of(region) != src.merging[0] or region.peers != source.peers:
            return False
        if src.merging[1] != index or src.region != source or src.sm.applied < index:
            # Every replica must decide alike; a source replica behind its own prepare would diverge.
            raise RuntimeError(f"region {peer.id}: merge of {source.id} at {index} but the local source is "
                               f"at {src.sm.applied} ({src.region}, {src.merging})")
        merged = region.merge(source)
        b.set(layout.local_region_key(merged.id), merged.pack())
        b.delete(layout.local_region_key(source.id))
        b.delete(layout.merging_key(source.id))
        # A client's retry of a write the source applied lands here now: it must find the result.
        for cid, results in src.sm.sessions().items():
            mine = sm._session(cid)
            for seq, result in results.items():
                mine.setdefault(seq, result)
            b.set(layout.session_key(merged.id, cid), msgpack.packb(mine, use_bin_type=True))
        peer.region = merged
        peer.merged.append(source.id)
        return True

    async def _destroy(self, source_id: int, target: RegionPeer) -> None:
        src = self.peers.pop(source_id, None)
        if src is None:
            return
        src.destroy(self.epoch_not_match())
        self._published.pop(source_id, None)
        self._gone.add(source_id)
        self.merges += 1

        def drop():
            prefix = layout.group_prefix(source_id)
            b = self.db.batch()
            b.delete(layout.local_region_key(source_id))  # first in the batch: gone on restart
            b.delete(layout.merging_key(source_id))
            b.delete_range(prefix, prefix + b"\xff")
            b.commit(sync=True)

        await self._io(drop)
        log.info("store %d: region %d merged into %d: now [%r, %r)", self.id, source_id, target.id,
                 target.region.start, target.region.end)
        self._publish_now.set()

    async def _merge_loop(self) -> None:
        if not self.cfg.merge_limit():
            return
        while True:
            await self.clock.sleep(self.cfg.merge_check_s)
            try:
                await self._merge_round()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("merge round")

    async def _merge_round(self) -> None:
        data = self.data_peers()
        for p in data:
            if p.merging is not None and p.role == Role.LEADER and not p.splitting:
                self._drive_prepared(p)
        if any(p.merging is not None for p in data):
            return  # one merge at a time per store
        mine = [p for p in data if p.role == Role.LEADER and not p.splitting]
        if not mine:
            return
        regions = [p.region for p in data]
        limit = self.cfg.merge_limit()
        sizes = {}
        for p in data:  # live bytes (deleted data is what makes a Region small), the scan capped at the limit
            sizes[p.id] = await self._scan.run(live_size, self.db, p.region, limit)
        self._small = {rid for rid, size in sizes.items() if size < limit}
        leaders = {p.id: (self.id if p.role == Role.LEADER else p.leader) for p in data}
        pick = merge_candidate(self.id, regions, leaders, sizes, self.cfg.merge_limit(), self.cfg.split_size,
                               busy={p.id for p in data if p.splitting or p.merging is not None})
        if pick is None:
            return
        action, rid, other = pick
        src = self.peers[rid]
        if action == "transfer":
            log.info("store %d: region %d is small; its leader moves to node %d to merge it", self.id, rid, other)
            src.raw.transfer_leader(other)
            self._wake.set()
            return
        self._spawn_merge(src, self.peers[other], prepare=True)

    def _drive_prepared(self, src: RegionPeer) -> None:
        """A prepared source (ours, maybe from a restart or a lost leader) goes to its neighbour."""
        side = src.merging[0]
        dst = next((p for p in self.data_peers() if p is not src and p.merging is None
                    and src.region.side_of(p.region) == side), None)
        if dst is None:
            return
        if dst.role == Role.LEADER:
            if not dst.splitting:
                self._spawn_merge(src, dst, prepare=False)
        elif dst.leader not in (NONE, self.id):
            src.raw.transfer_leader(dst.leader)  # its leader drives the commit
            self._wake.set()

    def _spawn_merge(self, src: RegionPeer, dst: RegionPeer, prepare: bool) -> None:
        src.splitting = dst.splitting = True  # no split, balancing or second merge meanwhile
        task = asyncio.get_running_loop().create_task(self._merge(src, dst, prepare))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _merge(self, src: RegionPeer, dst: RegionPeer, prepare: bool) -> None:
        try:
            if prepare:
                # A prepared source serves nothing until every replica has its prepare: only start
                # with every replica of both caught up, so a node that is down cannot hold it there.
                if not (_replicas_have(src, src.applied) and _replicas_have(dst, dst.applied)):
                    return
                side = src.region.side_of(dst.region)
                index = await src.command("v", src.region.start, side, src.region.epoch.version, None)
                if isinstance(index, bool) or not isinstance(index, int):
                    return
                log.info("store %d: region %d prepared to merge into %d at %d", self.id, src.id, dst.id, index)
            index = src.merging[1]
            # Each target replica applies its source replica's log up to the prepare from its own
            # disk: wait until every source replica has it there.
            deadline = self.clock.now() + self.cfg.request_timeout
            while True:
                if src.role != Role.LEADER or self.peers.get(src.id) is not src:
                    return
                if _replicas_have(src, index):
                    break
                if self.clock.now() > deadline:
                    return
                await self.clock.sleep(self.cfg.tick_ms / 1000)
            ok = await dst.command("M", dst.region.start, src.region.to_json(), [dst.region.epoch.version, index],
                                   None)
            if ok is not True:
                log.info("store %d: merge of region %d into %d refused; asked again later", self.id, src.id, dst.id)
        except errors.KVError as e:
            log.info("store %d: merge of region %d into %d not done: %s", self.id, src.id, dst.id, e)
        finally:
            src.splitting = dst.splitting = False

    # --- Region snapshots (see snapshot.py) ------------------------------------------------
    def _transfer(self, rid: int) -> SnapshotTransfer:
        t = self._transfers.get(rid)
        if t is None:
            t = self._transfers[rid] = SnapshotTransfer(
                self.id, Path(self.cfg.data_dir) / "incoming" / str(rid),
                lambda to, kind, payload: self.transport.send(to, REGION_SNAP, [rid, kind, payload]),
                lambda name: name == snapshot.FILE, run=self._scan.run)
        return t

    def _start_snapshot_send(self, p: RegionPeer, m) -> None:
        if (p.id, m.to) in self._sending:
            return
        self._sending.add((p.id, m.to))
        asyncio.get_running_loop().create_task(self._send_snapshot(p, m))

    async def _send_snapshot(self, p: RegionPeer, m) -> None:
        ok = False
        directory = Path(self.cfg.data_dir) / "snapshots" / str(p.id) / str(m.to)
        try:
            def build():
                meta = SnapshotMeta(p.sm.applied, p.sm.applied_term, p.sm.conf)
                snapshot.dump(self.db, p.id, p.region, p.merging, meta, directory)
                return meta
            meta = await self._io(build)
            ok = await self._transfer(p.id).stream(m.to, meta.index, directory)
            if ok and self.peers.get(p.id) is p:
                # The SNAP names the index of what was sent, not the compaction point the core knew.
                ok = self.transport.send(m.to, REGION_RAFT, [p.id, to_wire(replace(m, snapshot=meta))])
                self.snapshots_sent += ok
                log.info("store %d: region %d snapshot at %d sent to node %d", self.id, p.id, meta.index, m.to)
        except Exception:
            log.exception("region %d: snapshot to node %d", p.id, m.to)
        finally:
            self._sending.discard((p.id, m.to))
            await self._scan.run(shutil.rmtree, directory, True)
            if self.peers.get(p.id) is p:
                p.raw.report_snapshot(m.to, ok)
                self._wake.set()

    async def _install_snapshot(self, p: RegionPeer, meta: SnapshotMeta, hard) -> None:
        transfer = self._transfer(p.id)
        directory = transfer.ready_dir(meta.index)
        if directory is None:
            raise RuntimeError(f"region {p.id}: snapshot {meta.index} was not received before its SNAP message")

        def install():
            body = snapshot.load(directory / snapshot.FILE)
            region = snapshot.install(self.db, p.id, body, meta, hard)
            transfer.clear()
            return region, body.get("merging")

        region, merging = await self._io(install)
        sm = p.sm
        sm._sessions.clear()
        sm.last_index = sm.applied = meta.index
        sm.applied_term, sm.conf = meta.term, meta.conf
        p.compacted = meta.index
        if region is not None:
            p.region, p.merging, p.uninit = region, tuple(merging) if merging else None, False
        p.on_applied(Applied(index=meta.index, term=meta.term))
        self.snapshots_installed += 1
        if region is not None:
            # A replica here whose whole range the snapshot covers at a newer version was merged
            # into this Region while we were away (a live Region keeps its start key, which would
            # lie inside ours): its group is gone, so is our replica.
            for q in self.data_peers():
                if q is not p and region.start <= q.region.start and (region.end == "" or (
                        q.region.end != "" and q.region.end <= region.end)) \
                        and q.region.epoch.key() < region.epoch.key():
                    await self._destroy(q.id, p)
        log.info("store %d: region %d installed snapshot %d %s", self.id, p.id, meta.index, region or "(meta)")
        self._publish_now.set()

    def _flush_count(self) -> int:
        try:
            return int(self.db.metrics().get("flush_count", 0))
        except Exception:  # a store without metrics never flushes
            return 0

    # --- log compaction ---------------------------------------------------------------
    def _apply_log_gc(self, peer: RegionPeer, sm, b, key, index, _unused, overlay):
        """Storage thread: drop this replica's log up to `index`.

        The leader proposes it up to the lowest index every voter has (its
        match), or past a voter that lags by `snapshot_every` or holds nothing
        (it gets a snapshot). Local: the result changes no state.
        """
        term = sm.entry_term(index) if peer.compacted < index <= sm.applied else None
        if term is None:
            return False
        snap = SnapshotMeta(index, term, sm.conf)
        sm.compact_log(b, snap)
        peer.compacted = index
        peer.compactions.append(snap)
        return True

    def _maybe_compact(self, p: RegionPeer) -> None:
        if p.merging is not None or p.role != Role.LEADER or p.applied <= p.compacted:
            return
        progress = p.raw.status().get("progress") or {}
        matches = [pr["match"] for pr in progress.values() if not pr.get("learner")]
        if not matches:
            return
        if p.applied - p.compacted < self.cfg.snapshot_every:
            return
        upto = min(min(matches), p.applied)
        if p.applied - upto >= self.cfg.snapshot_every:
            upto = p.applied  # a voter that far behind (or down) gets a snapshot instead of holding the log
        if upto - p.compacted >= max(1, self.cfg.snapshot_every // 2):
            key = p.region.start if p.region is not None else ""  # a key the Region owns, so it applies
            task = asyncio.get_running_loop().create_task(p.command("g", key, upto, None, None))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())  # best effort; retried next round

    async def _split_loop(self) -> None:
        flushes = self._flush_count()
        while True:
            await self.clock.sleep(self.cfg.split_check_s)
            now = self._flush_count()
            if now != flushes:  # the memtable went to sstables: Pebble's estimate counts it now
                flushes = now
                for p in self.data_peers():
                    p.unflushed = 0
            for p in list(self.peers.values()):
                self._maybe_compact(p)
            for p in self.data_peers():
                if p.merging is not None:
                    continue
                limit = split_limit(p.requests / self.cfg.split_check_s, self.cfg.hot_qps, self.cfg.split_size)
                p.requests = 0
                if p.role == Role.LEADER and not p.splitting and p.written >= max(1, limit // 8):
                    p.written = 0
                    p.splitting = True
                    asyncio.get_running_loop().create_task(self._maybe_split(p, limit))

    async def _balance_loop(self) -> None:
        if not self.cfg.balance_s:
            return
        while True:
            await self.clock.sleep(self.cfg.balance_s)
            data = self.data_peers()
            move = pick_transfer(self.id, {p.id: p.leader for p in data}, sorted(self.cfg.peers),
                                 busy={p.id for p in data if p.splitting} | self._small)
            if move is not None and self.peers[move[0]].role == Role.LEADER:
                rid, to = move
                log.info("store %d: moving leadership of region %d to node %d (balance)", self.id, rid, to)
                self.peers[rid].raw.transfer_leader(to)
                self._wake.set()

    async def _maybe_split(self, p: RegionPeer, limit: int) -> None:
        try:
            region = p.region
            # Off the storage thread: a scan there would hold up every group's writes.
            # Pebble reads run beside batch commits; the key is only a proposal, the log decides.
            key = await self._scan.run(find_split_key, self.db, region, limit, p.unflushed)
            if key is None:
                return
            new_id = await self.meta_call("I", None)
            ok = await p.command("s", key, new_id, region.epoch.version, None)
            if ok is not True:
                log.info("store %d: split of region %d at %r refused (%s)", self.id, p.id, key, ok)
        except errors.KVError as e:
            log.info("store %d: split of region %d not done: %s", self.id, p.id, e)
            p.written = self.cfg.split_size  # try again at the next check
        except Exception:
            log.exception("split of region %d", p.id)
        finally:
            p.splitting = False

    # --- the meta group -----------------------------------------------------------------
    async def meta_call(self, op: str, arg):
        """Propose a meta command at the meta leader, wherever it is; -> its result.

        Through the peer transport (META_CALL / META_REPLY frames), so stores need no client API of
        each other. A retried `I` may allocate an id twice: ids are only ever skipped."""
        deadline = self.clock.now() + self.cfg.request_timeout
        while True:
            try:
                if self.meta.role == Role.LEADER:
                    return await self.meta.command(op, "", arg, None, None)
                leader = self.meta.leader
                if leader not in (NONE, self.id):
                    cid = next(self._call_ids)
                    fut = self._calls[cid] = asyncio.get_running_loop().create_future()
                    try:
                        if self.transport.send(leader, META_CALL, [cid, self.id, op, arg]):
                            ok, result = await asyncio.wait_for(fut, max(0.05, min(1.0, deadline - self.clock.now())))
                            if ok:
                                return result
                    finally:
                        self._calls.pop(cid, None)
            except errors.NotLeader:
                pass
            except asyncio.TimeoutError:
                log.debug("meta call at leader %d timed out", self.meta.leader)
            if self.clock.now() >= deadline:
                raise errors.Timeout("meta group unavailable")
            await self.clock.sleep(0.05)

    def _on_meta_call(self, payload) -> None:
        if self.meta is None:
            return  # still forming: the caller asks again
        if not (isinstance(payload, list) and len(payload) == 4 and type(payload[0]) is int
                and type(payload[1]) is int and payload[2] in meta.META_OPS):
            log.warning("store %d: malformed meta call refused", self.id)
            return
        cid, frm, op, arg = payload

        async def serve():
            try:
                reply = [cid, True, await self.meta.command(op, "", arg, None, None)]
            except errors.KVError:
                reply = [cid, False, None]
            self.transport.send(frm, META_REPLY, reply)
        asyncio.get_running_loop().create_task(serve())

    def _on_meta_reply(self, payload) -> None:
        if isinstance(payload, list) and len(payload) == 3:
            fut = self._calls.get(payload[0])
            if fut is not None and not fut.done():
                fut.set_result((bool(payload[1]), payload[2]))

    async def _publish_loop(self) -> None:
        rounds = 0
        while True:
            try:
                await asyncio.wait_for(self._publish_now.wait(), self.cfg.publish_s)
            except asyncio.TimeoutError:
                pass
            self._publish_now.clear()
            rounds += 1
            if rounds % 20 == 0:
                self._published.clear()  # a late hint from a deposed leader may have overwritten ours
            items = {p.id: (p.region, self.id) for p in self.data_peers()
                     if p.role == Role.LEADER and p.merging is None}
            todo = {rid: st for rid, st in items.items() if self._published.get(rid) != st}
            if not todo:
                continue
            try:
                await self.meta_call("R", [[r.to_json(), leader] for r, leader in todo.values()])
                self._published.update(todo)
            except errors.KVError as e:
                log.debug("publishing regions: %s", e)

    def regions(self) -> list[dict]:
        """The directory, corrected by what this store knows first-hand (its own replicas)."""
        m, leaders = RegionMap(), {}
        for region, leader in meta.directory(self.db):
            if m.update(region):
                leaders[region.id] = leader
        for p in self.data_peers():
            if m.update(p.region) and p.leader:
                leaders[p.id] = p.leader
        out = []
        for r in m:
            d = r.to_json()
            d["leader"] = leaders.get(r.id)
            d["leader_address"] = self.client_address(d["leader"] or 0)
            out.append(d)
        return out

    # --- routing and client calls ---------------------------------------------------------
    def client_address(self, node_id: int) -> str | None:
        return self.cfg.peer_clients.get(node_id) if node_id else None

    def epoch_not_match(self) -> errors.EpochNotMatch:
        return errors.EpochNotMatch(self.regions())

    def _owner(self, key: str) -> RegionPeer:
        # While a merge applies, a key is in the target and the prepared source alike: the target owns it.
        for p in sorted(self.data_peers(), key=lambda p: p.merging is not None):
            if p.region.contains(key):
                return p
        raise RuntimeError(f"no local region holds {key!r}: the hosted regions must cover the key space")

    def route(self, key: str, region_id: int | None = None, epoch: Epoch | None = None) -> RegionPeer:
        """The local replica that serves key, checked against the Region (and epoch) the request named."""
        rid = region_id
        if rid is None:
            return self._owner(key)
        p = self.peers.get(rid)
        if rid == layout.META_REGION:
            raise errors.BadRequest("region 0 is the meta group: it holds no keys")
        if p is None:
            raise self.epoch_not_match()
        if epoch is not None and epoch.key() > p.region.epoch.key():
            # The client knows a newer layout than this replica has applied: ask the leader.
            owner = self._owner(key)
            hint = owner.leader if owner.leader != self.id else NONE
            raise errors.NotLeader(hint, self.client_address(hint))
        if (epoch is not None and epoch != p.region.epoch) or not p.region.contains(key):
            raise self.epoch_not_match()
        return p

    async def _leader_known(self, p: RegionPeer) -> None:
        """A Region born of a split has no leader for an election's length: wait that out here
        rather than send the client away with no hint to follow."""
        deadline = self.clock.now() + 2 * self.cfg.election_ticks * self.cfg.tick_ms / 1000
        while p.leader == NONE and self.clock.now() < deadline:
            await self.clock.sleep(self.cfg.tick_ms / 1000)

    async def _not_merging(self, p: RegionPeer) -> None:
        """A prepared source serves nothing: wait a moment for the merge, then send the client to the new layout."""
        if p.merging is None:
            return
        deadline = self.clock.now() + 2 * self.cfg.election_ticks * self.cfg.tick_ms / 1000
        while self.peers.get(p.id) is p and self.clock.now() < deadline:
            await self.clock.sleep(self.cfg.tick_ms / 1000)
        raise self.epoch_not_match()

    async def write(self, op: str, key: str, a, b, request_id: str | None, region_id: int | None = None,
                    epoch: Epoch | None = None):
        p = self.route(key, region_id, epoch)
        await self._not_merging(p)
        await self._leader_known(p)
        result = await p.command(op, key, a, b, request_id)
        if result is EPOCH_NOT_MATCH:
            raise self.epoch_not_match()
        return result

    async def read(self, key: str, mode: str | None = None, region_id: int | None = None,
                   epoch: Epoch | None = None):
        """mode: what the request asked (None: the store's --read-mode); BadRequest if it may not have it."""
        mode = readmodes.served(mode, self.read_mode)
        if mode == readmodes.LOCAL_UNSAFE:  # UNSAFE: may return stale data
            return self._owner(key).sm.read(key)
        if mode == readmodes.LOG:
            return await self.write("r", key, None, None, None, region_id, epoch)
        p = self.route(key, region_id, epoch)
        await self._not_merging(p)
        await self._leader_known(p)
        await p.read(mode)
        # A split applied while the read waited, or a merge prepared: the target may take writes now.
        if p.merging is not None or not p.region.contains(key):
            raise self.epoch_not_match()
        return p.sm.read(key)

    # --- admin ----------------------------------------------------------------------------
    async def add_learner(self, node_id: int, peer_address: str, client_address: str) -> None:
        raise errors.BadRequest("membership changes are not supported by the region store")

    promote = remove = add_learner

    async def transfer_leader(self, to: int) -> None:
        """Hand every group this node leads (the meta group included) to node `to`."""
        if self.meta is None:
            raise errors.NotLeader()
        self.meta.require_leader()
        for p in self.peers.values():
            if p is not self.meta and p.role == Role.LEADER:
                try:
                    p.start_transfer(to)
                except errors.NotLeader:
                    pass
        await self.meta.transfer_leader(to)

    # --- reporting -----------------------------------------------------------------------
    def status(self) -> dict:
        """The node's view for the suite's monitor: role, term, leader, commit of the META group (region 0)."""
        if self.meta is None:
            return {"id": self.id, "role": "forming", "term": 0, "leader": None, "leader_address": None,
                    "commit": 0, "applied": 0, "snapshot_index": 0, "log_size": 0, "read_mode": self.read_mode,
                    "regions": 0, "local_regions": 0, "leading": 0, "incarnation": self.incarnation}
        st = self.meta.status()
        data = self.data_peers()
        return {
            "id": self.id, "role": st["role"], "term": st["term"], "leader": st["leader"],
            "leader_address": self.client_address(self.meta.leader), "commit": st["commit"],
            "applied": st["applied"], "snapshot_index": self.meta.compacted,
            "log_size": self.meta.sm.last_index - self.meta.compacted,
            "read_mode": self.read_mode, "regions": len(meta.directory(self.db)),
            "local_regions": len(data), "leading": sum(p.role == Role.LEADER for p in data),
            "incarnation": self.incarnation,
        }

    def metrics_text(self) -> str:
        data = self.data_peers()
        rows = [("regions_hosted", "gauge", "Region replicas on this node.", len(data)),
                ("regions_leading", "gauge", "Regions this node leads.", sum(p.role == Role.LEADER for p in data)),
                ("region_splits_total", "counter", "Splits applied on this node.", self.splits),
                ("region_merges_total", "counter", "Merges applied on this node.", self.merges),
                ("elections_total", "counter", "Elections started here (all groups, pre-vote included).",
                 self.elections),
                ("leader_changes_total", "counter", "Times a group's known leader changed (all groups).",
                 self.leader_changes),
                ("log_compactions_total", "counter", "Raft log compactions (all groups).", self.compactions),
                ("snapshots_sent_total", "counter", "Region snapshots streamed to followers.", self.snapshots_sent),
                ("snapshots_installed_total", "counter", "Region snapshots installed here.",
                 self.snapshots_installed),
                ("log_entries", "gauge", "Raft log entries held (all groups).",
                 sum(p.sm.last_index - p.compacted for p in self.peers.values())),
                ("term", "gauge", "Meta group term.", self.meta.term if self.meta else 0),
                ("is_leader", "gauge", "1 if this node leads the meta group.",
                 int(self.meta is not None and self.meta.role == Role.LEADER))]
        lines = []
        for name, kind, help_, value in rows:
            lines += [f"# HELP reference_kv_{name} {help_}", f"# TYPE reference_kv_{name} {kind}",
                      f"reference_kv_{name} {value}"]
        return "\n".join(lines) + "\n"


_COMMIT_MERGE = b"\x96\xa1M"  # msgpack of a command array starting with op "M"


def _merge_commits(entries):
    """(source id, prepare index) of every merge commit among committed entries."""
    for e in entries:
        if e.type == EntryType.NORMAL and e.data[:3] == _COMMIT_MERGE:
            _op, _pid, _rid, _key, desc, arg = msgpack.unpackb(e.data, raw=False)
            yield int(desc["id"]), int(arg[1])


def _replicas_have(p: RegionPeer, index: int) -> bool:
    """Every voter of the group (as its leader sees them) has the log up to index on its disk."""
    progress = p.raw.status().get("progress") or {}
    return bool(progress) and all(pr["match"] >= index and pr["state"] == "replicate"
                                  for pr in progress.values() if not pr.get("learner"))
