"""One node of the multi-Raft KV: many Region replicas over one transport, storage lane and ticker.

The store loop: every Ready of every group that has one is persisted in ONE storage batch (one
fsync for all of them), then their messages go out and their clients are answered, as in the
single-group node. Raft frames carry the Region id (`[region_id, message]` under REGION_RAFT); a
frame for a Region this store does not host yet (it has not applied the split that creates it) is
held briefly, then given to an empty stand-in replica that owns nothing and votes for nobody until
a snapshot fills it (or the split applies here and replaces it).

Routing: a client request names its key and maybe its Region and epoch (as arguments, from the
HTTP layer); a stale epoch or a key outside the Region gets EpochNotMatch with the layout now.

What else a store does lives beside it, one module each: commands.py (the apply of splits, merges
and log compaction, named commands), split.py (when and where to split, and the split loop),
merge.py (when to merge, and the merge driver), compaction.py (when to compact a log),
snapshot.py (Region snapshots: the file, sending, installing), metaclient.py (the meta group's
client and the directory publisher), membership.py (which stores the cluster has, and every
Region following it), peer.py (one replica: the shared replica driver plus a Region's state).
"""
from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from pathlib import Path

import msgpack

from reference_kv import errors, identity, process, readmodes
from reference_kv.node import NodeConfig
from reference_kv.raft.types import NONE, ConfState, Message, MsgType, Role, conf_to_wire, from_wire, to_wire
from reference_kv.regions import commands, layout, meta, metaclient, snapshot
from reference_kv.regions.balance import pick_transfer
from reference_kv.regions.membership import Membership, follows as membership_done_here
from reference_kv.regions.merge import MergeDriver
from reference_kv.regions.metaclient import MetaClient
from reference_kv.regions.peer import RegionPeer
from reference_kv.regions.region import Epoch, Region, RegionMap
from reference_kv.regions.snapshot import RegionSnapshots
from reference_kv.regions.split import SplitDriver
from reference_kv.replica import AsyncioClock, ticker
from reference_kv.runner import threads
from reference_kv.statemachine import EPOCH_NOT_MATCH, META_CONF, Applied, StateMachine
from reference_kv.transport import RAFT_FRAME_LIMIT

log = logging.getLogger("reference_kv.regions")

REGION_RAFT = 16
# The largest frame of each kind this store reads; the transport closes connections sending any other
# kind, so a new kind gets its line with its owner. Region frames wrap a group's message in [region_id, ...].
FRAME_LIMITS = {REGION_RAFT: RAFT_FRAME_LIMIT + 64, identity.IDENTITY: identity.FRAME_LIMIT,
                **snapshot.FRAME_LIMITS, **metaclient.FRAME_LIMITS}
EARLY_REGIONS, EARLY_MESSAGES = 16, 64  # messages held for Regions not created yet
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
        self.running: asyncio.Future | None = None  # done when the store runs; a refusal if it may not
        self.incarnation = self.rng.getrandbits(48).to_bytes(6, "big").hex()  # a restart, as the suite's monitor tells it
        self.splits = 0
        self.merges = 0
        self.compactions = 0
        self.elections = 0
        self.leader_changes = 0
        self._early: dict[int, list] = {}
        self._gone: set[int] = set()  # Regions merged away here: their late messages are dropped
        self.snapshots = RegionSnapshots(self)
        self.metaclient = MetaClient(self)
        self.merger = MergeDriver(self)
        self.splitter = SplitDriver(self)
        self.membership = Membership(self)
        self._tasks: list[asyncio.Task] = []
        self._wake: asyncio.Event | None = None

    # --- lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        self._wake = asyncio.Event()
        Path(self.cfg.data_dir).mkdir(parents=True, exist_ok=True)
        self.db = await self.io(self._open_storage, Path(self.cfg.data_dir) / "db", False)
        hosted = await self.io(self._hosted)
        if not hosted and not self.cfg.peers:
            raise ValueError("a fresh region store needs --peers (with --join: the stores to ask)")
        self.transport.on_frame = self._on_frame
        self.transport.on_unreachable = self._on_unreachable
        self.transport.limits = FRAME_LIMITS
        self.transport.addresses.pop(self.id, None)
        fresh = not hosted
        self.running = asyncio.get_running_loop().create_future()
        self.formation, must_form = await identity.prepare(
            self.io, self.db, self.id, fresh, self.cfg.join, self.rng, self.cfg.data_dir, self.cfg.peers,
            self.transport.send, self.clock, self._meta_conf, self.cfg.peer_address or self.cfg.peers.get(self.id, ""),
            identity.stranger_route(self.transport, self.id,
                                    lambda peer: peer in self.cfg.peers or peer in self.membership.members))
        await self.transport.start()
        if must_form:
            self._tasks = [asyncio.get_running_loop().create_task(self._form_then_begin(hosted, fresh))]
        else:
            await self._begin(hosted)

    async def _form_then_begin(self, hosted, fresh: bool) -> None:
        try:
            await identity.form(self.formation, self.io, self.db, fresh)
            await self._begin(hosted)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a refusal names the remedy; the process exits with it
            if not self.running.done():
                self.running.set_exception(e)

    async def _begin(self, hosted) -> None:
        """The meta group, the hosted Regions and the store's loops, once this store may run."""
        if not hosted and not self.cfg.join:
            hosted = await self.io(self._bootstrap)
        self.meta = await self._open_peer(layout.META_REGION, None)
        self.membership.load()
        for region in hosted:
            await self._open_peer(region.id, region)
        loop = asyncio.get_running_loop()
        self._tasks += [loop.create_task(ticker(self.clock, self.cfg.tick_ms / 1000, self.peers.values,
                                                self._after_tick)),
                        loop.create_task(self._ready_loop()), loop.create_task(self.splitter.loop()),
                        loop.create_task(self.metaclient.publish_loop()), loop.create_task(self._balance_loop()),
                        loop.create_task(self.merger.loop()), loop.create_task(self.membership.loop())]
        if not self.running.done():
            self.running.set_result(None)
        log.info("store %d started: %d regions", self.id, len(hosted))

    def _meta_conf(self):
        if self.meta is None:
            return None
        st = self.meta.raw.status()
        return st["voters"], st["learners"], st["applied"]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.transport.close()
        await self.io(self.db.close)
        self._exec.shutdown()
        self._scan.shutdown()

    async def io(self, fn, *args):
        """On the storage lane: the only writer of the store's storage."""
        return await self._exec.run(fn, *args)

    async def scan(self, fn, *args):
        """Off the storage lane: range scans and file work."""
        return await self._scan.run(fn, *args)

    def wake(self) -> None:
        self._wake.set()

    def gone(self, rid: int) -> bool:
        return rid in self._gone

    def _hosted(self) -> list[Region]:
        lo = layout.LOCAL_REGION
        return [Region.unpack(v) for _, v in self.db.iterate(lo, lo + b"\xff")]

    def _bootstrap(self) -> list[Region]:
        """Storage lane: a brand-new cluster is the meta group and one Region over all keys."""
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
        if region is None:
            peer.sm = StateMachine(self.db, self.cfg.unsafe_bug, layout.group_prefix(rid),
                                   data_prefix=layout.META_DATA, extra_ops={**meta.META_OPS, **commands.meta_ops(peer)})
        else:
            # A prepared merge source owns nothing: every later command in its log is refused.
            peer.sm = StateMachine(self.db, self.cfg.unsafe_bug, layout.group_prefix(rid),
                                   owns=lambda key: not peer.uninit and peer.merging is None
                                   and peer.region.contains(key),
                                   extra_ops=commands.data_ops(self, peer),
                                   on_conf=lambda sm, b, cc: Membership.on_conf(peer, sm, b, cc))
            marker = await self.io(self.db.get, layout.merging_key(rid))
            peer.merging = tuple(msgpack.unpackb(marker, raw=False)) if marker else None
        loaded = await self.io(peer.sm.load)
        if not loaded.conf_state.voters and not loaded.conf_state.learners and loaded.snapshot is None:
            peer.uninit = True  # knows nothing of its group (a store that joins): a snapshot fills it
        peer.boot(loaded, self.cfg)
        peer.compacted = loaded.snapshot.index if loaded.snapshot else 0
        self.peers[rid] = peer
        return peer

    def data_peers(self) -> list[RegionPeer]:
        return [p for p in self.peers.values() if p.region is not None and not p.uninit]

    # --- inputs ----------------------------------------------------------------------
    def _on_frame(self, kind: int, payload) -> None:
        if kind == REGION_RAFT:
            rid, wire = payload
            peer = self.peers.get(rid)
            if peer is None:
                if rid not in self._gone:
                    self._hold_early(rid, wire)
                return
            self._step(peer, wire)
        elif kind == snapshot.REGION_SNAP:
            self.snapshots.on_frame(payload)
        elif kind == snapshot.WANT_SNAP:
            self.snapshots.on_want(payload)
        elif kind == metaclient.META_CALL:
            self.metaclient.on_call(payload)
        elif kind == metaclient.META_REPLY:
            self.metaclient.on_reply(payload)
        elif kind == identity.IDENTITY:
            self.formation.on_frame(payload)

    def _step(self, peer: RegionPeer, wire) -> None:
        try:
            m = from_wire(wire)
            if self.snapshots.wanted(peer, m):
                self.snapshots.ask(peer, m)
                if peer.uninit and m.type == MsgType.APP and m.index == 0:
                    return  # the log from its start would apply with no range known: wait for the snapshot
            peer.raw.step(m)
        except Exception as e:  # a message the core rejects must not kill the store
            log.debug("region %d step: %s", peer.id, e)
        self._wake.set()

    def send_raft(self, rid: int, m: Message) -> bool:
        return self.transport.send(m.to, REGION_RAFT, [rid, to_wire(m)])

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
            # No split made it here in time: a Region we lost track of (behind a compaction).
            log.info("store %d: region %d unknown here; an empty replica waits for its snapshot", self.id, rid)
            p = await self._open_peer(rid, Region(rid), uninit=True)
            for _, wire in held:
                self._step(p, wire)
        self._wake.set()

    # --- the store loop: all groups, one batch ---------------------------------------
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
                await self._install(p, rd.snapshot, rd.hard_state or p.hard)

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
            results = await self.io(persist)
        else:  # heartbeats and their answers: nothing to write, no trip to the storage lane
            results = [Applied(index=p.sm.applied, term=p.sm.applied_term) for p, _ in work]
        created = []
        for (p, rd), applied in zip(work, results):
            if rd.hard_state is not None:
                p.on_hard_state(rd.hard_state)
            for m in rd.messages:
                if m.type == MsgType.SNAP:
                    self.snapshots.start_send(p, m)
                else:
                    self.send_raft(p.id, m)
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
            for source_id, caught_up in p.merged:
                src = self.peers.get(source_id)
                if src is not None and caught_up is not None:
                    src.on_applied(caught_up)  # writes the source applied last answer their clients
                await self._destroy(source_id, p)
            p.merged = []
        for parent, region in created:
            await self._create(parent, region)

    async def _create(self, parent: RegionPeer, region: Region) -> None:
        """A split applied here: the new Region's replica (replacing an empty stand-in of it)."""
        if region.id in self.peers:
            if not self.peers[region.id].uninit:
                return
            del self.peers[region.id]
        child = await self._open_peer(region.id, region)
        for _, wire in self._early.pop(region.id, []):
            self._step(child, wire)
        child.unflushed = parent.unflushed = parent.unflushed // 2
        self.splits += 1
        log.info("store %d: region %d split at %r: new region %d", self.id, parent.id, region.start, region.id)
        if parent.role == Role.LEADER:
            child.raw.campaign()  # the parent's leader takes the new half at once (no election timeout)
            self._wake.set()
        self.metaclient.publish_now.set()

    async def _install(self, p: RegionPeer, snap, hard) -> None:
        region = await self.snapshots.install(p, snap, hard)
        if region is not None:
            # A replica here whose whole range the snapshot covers at a newer version was merged
            # into this Region while we were away (a live Region keeps its start key, which would
            # lie inside ours): its group is gone, so is our replica.
            for q in self.data_peers():
                if q is not p and region.start <= q.region.start and (region.end == "" or (
                        q.region.end != "" and q.region.end <= region.end)) \
                        and q.region.epoch.key() < region.epoch.key():
                    await self._destroy(q.id, p)
        self.metaclient.publish_now.set()

    def _on_soft_state(self, p: RegionPeer, ss) -> None:
        if ss.role in (Role.CANDIDATE, Role.PRE_CANDIDATE) and p.role not in (Role.CANDIDATE, Role.PRE_CANDIDATE):
            self.elections += 1
        if ss.leader != p.leader:
            self.leader_changes += 1
        p.on_soft_state(ss)
        if ss.role == Role.LEADER:
            self.metaclient.publish_now.set()

    async def _destroy(self, source_id: int, target: RegionPeer) -> None:
        """A Region merged away here (or found merged by a snapshot): its replica and group state go."""
        src = self.peers.pop(source_id, None)
        if src is None:
            return
        src.destroy(self.epoch_not_match())
        self.metaclient.forget(source_id)
        self._gone.add(source_id)
        self.merges += 1

        def drop():
            prefix = layout.group_prefix(source_id)
            b = self.db.batch()
            b.delete(layout.local_region_key(source_id))  # first in the batch: gone on restart
            b.delete(layout.merging_key(source_id))
            b.delete_range(prefix, prefix + b"\xff")
            b.commit(sync=True)

        await self.io(drop)
        log.info("store %d: region %d merged into %d: now [%r, %r)", self.id, source_id, target.id,
                 target.region.start, target.region.end)
        self.metaclient.publish_now.set()

    async def _balance_loop(self) -> None:
        if not self.cfg.balance_s:
            return
        while True:
            await self.clock.sleep(self.cfg.balance_s)
            data = self.data_peers()
            # Regions below the merge size stay where a merge wants their leaders (moved back each
            # second, no merge ever started).
            want = self.membership.desired()
            if want is None:
                continue
            move = pick_transfer(self.id, {p.id: p.leader for p in data}, sorted(want[0]),
                                 busy={p.id for p in data if p.splitting} | self.merger.small)
            if move is not None and self.peers[move[0]].role == Role.LEADER:
                rid, to = move
                log.info("store %d: moving leadership of region %d to node %d (balance)", self.id, rid, to)
                try:
                    self.peers[rid].start_transfer(to)
                except errors.NotLeader:
                    pass

    # --- the directory ---------------------------------------------------------------------
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
        return (self.membership.addresses(node_id)[1] or None) if node_id else None

    def epoch_not_match(self) -> errors.EpochNotMatch:
        return errors.EpochNotMatch(self.regions())

    def _owner(self, key: str) -> RegionPeer:
        # While a merge applies, a key is in the target and the prepared source alike: the target owns it.
        for p in sorted(self.data_peers(), key=lambda p: p.merging is not None):
            if p.region.contains(key):
                return p
        # A store that missed a split while it was down and then took the parent's snapshot holds
        # the narrowed parent and not yet the new Region (a stand-in waits for its snapshot): the
        # key is served elsewhere for now, as TiKV answers RegionNotFound.
        raise errors.NotLeader()

    def route(self, key: str, region_id: int | None = None, epoch: Epoch | None = None) -> RegionPeer:
        """The local replica that serves key, checked against the Region (and epoch) the request named."""
        if self.meta is None:
            raise errors.NotLeader()  # not a member yet: the cluster forms
        if region_id is None:
            return self._owner(key)
        if region_id == layout.META_REGION:
            raise errors.BadRequest("region 0 is the meta group: it holds no keys")
        p = self.peers.get(region_id)
        if p is None or p.region is None or p.uninit:
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
        if mode == readmodes.LOG:
            return await self.write("r", key, None, None, None, region_id, epoch)
        p = self.route(key, region_id, epoch)
        if mode == readmodes.LOCAL_UNSAFE:  # UNSAFE: may return stale data
            return p.sm.read(key)
        await self._not_merging(p)
        await self._leader_known(p)
        await p.read(mode)
        # A split applied while the read waited, or a merge prepared: the target may take writes now.
        if p.merging is not None or not p.region.contains(key):
            raise self.epoch_not_match()
        return p.sm.read(key)

    # --- admin ----------------------------------------------------------------------------
    async def add_learner(self, node_id: int, peer_address: str, client_address: str) -> None:
        """Store node_id joins as a learner of the meta group, then of every Region (membership.py)."""
        await self.membership.add_learner(node_id, peer_address, client_address)

    async def promote(self, node_id: int) -> None:
        await self.membership.promote(node_id)

    async def remove(self, node_id: int) -> None:
        await self.membership.remove(node_id)

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
            "incarnation": self.incarnation, "cluster_id": self.formation.saved.cluster_hex(),
            "voters": sorted(self.meta.raw.status()["voters"]), "learners": sorted(self.meta.raw.status()["learners"]),
            # Regions here that count this store as the meta group does: all of them once a change is done
            "regions_following": sum(membership_done_here(p, self.id, self.membership.desired()) for p in data),
        }

    def metric_families(self):
        """What /metrics shows (reference_kv.metrics; names as the README lists them)."""
        from reference_kv.metrics import counter, gauge
        data = self.data_peers()
        return [
            gauge("regions_hosted", "Region replicas on this node.", len(data)),
            gauge("regions_leading", "Regions this node leads.", sum(p.role == Role.LEADER for p in data)),
            counter("region_splits_total", "Splits applied on this node.", self.splits),
            counter("region_merges_total", "Merges applied on this node.", self.merges),
            counter("elections_total", "Elections started here (all groups, pre-vote included).", self.elections),
            counter("leader_changes_total", "Times a group's known leader changed (all groups).", self.leader_changes),
            counter("log_compactions_total", "Raft log compactions (all groups).", self.compactions),
            counter("snapshots_sent_total", "Region snapshots streamed to followers.", self.snapshots.sent),
            counter("snapshots_installed_total", "Region snapshots installed here.", self.snapshots.installed),
            gauge("log_entries", "Raft log entries held (all groups).",
                  sum(p.sm.last_index - p.compacted for p in self.peers.values())),
            gauge("term", "Meta group term.", self.meta.term if self.meta else 0),
            gauge("is_leader", "1 if this node leads the meta group.",
                  int(self.meta is not None and self.meta.role == Role.LEADER)),
        ]
