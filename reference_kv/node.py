"""One reference-KV node: drives the pure Raft core with asyncio.

This is the only module that awaits. The core never blocks: ticks, peer
messages and client proposals go in synchronously on the event loop; the
ready loop takes each `Ready` and

1. installs a received snapshot,
2. hands entries and hard state to the log lane (a storage thread that
   writes all that queued up since its last round with one fsync: group
   commit) and committed entries, once on our own disk, to the apply lane
   (a second storage thread), so the loop never stalls on fsync,
3. sends a follower's or candidate's messages only when everything handed
   out before them is synced; a leader's leave at once (Raft thesis 10.2.1:
   the core counts the leader's own copy only once it is synced), and
   clients are answered when their entry is applied.

The loop does not wait for one Ready's write before taking the next, so
replication, fsync and apply overlap.

The clock and the transport are constructor arguments so tests can drive a
node on virtual time.
"""
from __future__ import annotations

import asyncio
import bisect
import collections
import logging
import random
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import msgpack

from reference_kv import errors, identity, process, readmodes
from reference_kv.raft import Config, InitialState, RawNode
from reference_kv.raft.types import (
    NONE, ConfChange, ConfChangeType, ConfState, EntryType, HardState, Message, MsgType, Role, from_wire, to_wire,
)
from reference_kv.replica import ROLE_NAMES, AsyncioClock, Replica, ticker
from reference_kv.runner import threads
from reference_kv.snapshot_transfer import ACK, CHUNK, OFFER, SnapshotTransfer, fsync_dir
from reference_kv.snapshot_transfer import FRAME_LIMITS as SNAPSHOT_FRAME_LIMITS
from reference_kv.statemachine import Applied, StateMachine, encode_command
from reference_kv.storage.base import is_checkpoint_file
from reference_kv.transport import RAFT, RAFT_FRAME_LIMIT

log = logging.getLogger("reference_kv.node")

# Planted bugs (`--unsafe-bug NAME`), each one marked branch off the safe path,
# so the suite can prove its campaigns find them (splitbrain/bugs.py holds the
# catalogue and the campaigns). Those branching in the core are in raft/core.py.
UNSAFE_BUGS = (
    "stale-read",                    # node.read: answered from local state, no ReadIndex, on any node
    "lease-no-drift-guard",          # core: lease as long as the election timeout
    "no-checkquorum",                # core: leader never steps down and trusts its lease
    "readindex-before-term-commit",  # core: ReadIndex answered before the term's first commit
    "no-fsync",                      # node._handle: entries and votes acknowledged without fsync
    "retry-duplicate",               # statemachine._dedup: request ids ignored, retries applied again
    "vote-not-persisted",            # node._handle: vote replies sent before (and without) persisting the vote
    "snapshot-lost-entries",         # core._handle_snapshot: installing drops the log after the snapshot
    "lease-ignores-pause",           # node._catch_up_ticks: ticks missed while stopped are dropped
)
FSYNC_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)


@dataclass
class NodeConfig:
    id: int
    data_dir: Path
    peers: dict[int, str]  # voter id -> peer address this node dials (itself included)
    peer_clients: dict[int, str] = field(default_factory=dict)  # id -> client HTTP address (leader hints)
    read_mode: str = readmodes.DEFAULT
    snapshot_every: int = 10000
    tick_ms: int = 10
    election_ticks: int = 10
    heartbeat_ticks: int = 1
    join: bool = False
    peer_address: str = ""  # where peers dial this node (default: its entry in peers)
    unsafe_bug: str | None = None
    request_timeout: float = 3.0
    seed: int | None = None


@dataclass
class _Metrics:
    elections: int = 0
    leader_changes: int = 0
    proposals: int = 0
    proposals_failed: int = 0
    reads: dict = field(default_factory=dict)
    fsync_count: int = 0
    fsync_sum: float = 0.0
    fsync_buckets: list = field(default_factory=lambda: [0] * len(FSYNC_BUCKETS))
    snapshots_taken: int = 0
    snapshots_sent: int = 0
    snapshots_installed: int = 0
    batches: int = 0
    batched_entries: int = 0

    def observe_fsync(self, seconds: float) -> None:
        self.fsync_count += 1
        self.fsync_sum += seconds
        i = bisect.bisect_left(FSYNC_BUCKETS, seconds)
        if i < len(FSYNC_BUCKETS):
            self.fsync_buckets[i] += 1


@dataclass(slots=True)
class _Write:
    """One Ready's storage work and what waits for it to be synced."""

    entries: list
    hs: HardState | None
    sync: bool
    messages: list  # sent once this and everything before it is synced
    mark: tuple[int, int] | None  # (index, term) of the last entry: reported to the core when synced
    vote: bool  # records a new term or vote


class _Lane:
    """One storage runner fed from the event loop; a round takes everything queued meanwhile."""

    def __init__(self, runner, round_fn, fatal):
        self.runner = runner
        self.round_fn = round_fn
        self.fatal = fatal
        self._queue: list = []
        self._lock = threading.Lock()
        self._scheduled = False

    def put(self, item) -> None:
        with self._lock:
            self._queue.append(item)
            if self._scheduled:
                return
            self._scheduled = True
        self.runner.submit(self._round).add_done_callback(self._check)

    def _check(self, fut) -> None:
        if not fut.cancelled() and fut.exception() is not None:
            self.fatal("writing to storage", fut.exception())

    def _round(self) -> None:
        with self._lock:
            items, self._queue = self._queue, []
            self._scheduled = False
        self.round_fn(items)


def _nothing() -> None:
    pass


class Node:
    def __init__(self, cfg: NodeConfig, open_storage, transport, clock=None, runners=None, rng=None, fatal=None):
        """open_storage(path, from_checkpoint: bool) -> Storage; transport: reference_kv.transport.Transport-like;
        runners(name) -> Runner for the storage lanes (threads by default); rng: the node's only source of
        randomness (seeded from cfg.seed by default); fatal(what, exc): an unrecoverable error (exits by default)."""
        self.cfg = cfg
        self.rng = rng or random.Random(cfg.seed)
        self._fatal = fatal or process.exit_now
        runners = runners or threads
        self.id = cfg.id
        self.read_mode = cfg.read_mode
        self.clock = clock or AsyncioClock()
        self.transport = transport
        self._open_storage = open_storage
        self.db_path = Path(cfg.data_dir) / "db"
        self.snap_dir = Path(cfg.data_dir) / "snapshots"
        self._exec = runners("storage")
        self.metrics = _Metrics()
        self.replica: Replica | None = None  # the Raft core's driver, once this member may run
        self.snapshot_index = 0
        self._last_synced = HardState()
        self._members: dict[int, tuple[str, str]] = {}
        self._snapshotting = False
        self._sending_snap: set[int] = set()
        self._tasks: list[asyncio.Task] = []
        self._wake: asyncio.Event | None = None
        self._stopped = False
        # Tells a restart from a missed status sample: the suite's commit-monotonicity check needs both.
        self.incarnation = self.rng.getrandbits(48).to_bytes(6, "big").hex()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._log_lane = _Lane(runners("log"), self._log_round, self._fatal)
        self._apply_lane = _Lane(self._exec, self._apply_round, self._fatal)
        self._inflight: collections.deque[_Write] = collections.deque()  # queued or being written
        self._durable = 0  # our log is on disk up to here
        self._to_apply: collections.deque = collections.deque()  # (committed entries, conf) not yet durable here
        self._applies_inflight = 0
        self._drain_waiters: list[asyncio.Future] = []
        self._unwritten_hs: HardState | None = None
        self._votes_inflight = 0  # queued writes of a new term or vote
        self.raw: RawNode | None = None  # None while the cluster forms (see identity.py)
        self.running: asyncio.Future | None = None  # done when the core runs; a Refused exception if it may not

    # --- lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        Path(self.cfg.data_dir).mkdir(parents=True, exist_ok=True)
        self._recover_interrupted_install()
        self.db = await self._io(self._open_storage, self.db_path, False)
        self.sm = StateMachine(self.db, unsafe_bug=self.cfg.unsafe_bug)
        loaded = await self._io(self.sm.load)
        if loaded.snapshot and not (self.snap_dir / str(loaded.snapshot.index)).is_dir():
            # Crashed between recording a snapshot and keeping its checkpoint: take it again.
            await self._io(self._checkpoint_now)
            loaded = await self._io(self.sm.load)
        fresh = (loaded.hard_state == HardState() and not loaded.conf_state.voters and not loaded.entries
                 and loaded.snapshot is None)
        self.running = asyncio.get_running_loop().create_future()
        self.snapshots = SnapshotTransfer(self.id, Path(self.cfg.data_dir) / "incoming", self._send_frame,
                                          is_checkpoint_file, run=self._exec.run)
        self.formation, must_form = await identity.prepare(
            self._io, self.db, self.id, fresh, self.cfg.join, self.rng, self.cfg.data_dir, self.cfg.peers,
            self._send_frame, self.clock, self._conf_now, self.cfg.peer_address or self.cfg.peers.get(self.id, ""),
            identity.stranger_route(self.transport, self.id, self._known))
        self.transport.on_frame = self._on_frame
        self.transport.on_unreachable = self._on_unreachable
        self.transport.limits = {RAFT: RAFT_FRAME_LIMIT, identity.IDENTITY: identity.FRAME_LIMIT,
                                 **SNAPSHOT_FRAME_LIMITS}
        self.transport.addresses.pop(self.id, None)
        await self.transport.start()
        if must_form:
            # The client API serves (status says "forming") while the cluster forms.
            self._tasks = [asyncio.get_running_loop().create_task(self._form_then_begin(loaded, fresh))]
        else:
            await self._begin(loaded, fresh)

    async def _form_then_begin(self, loaded, fresh: bool) -> None:
        try:
            await identity.form(self.formation, self._io, self.db, fresh)
            await self._begin(loaded, fresh)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a refusal names the remedy; the process exits with it
            if not self.running.done():
                self.running.set_exception(e)

    async def _begin(self, loaded, fresh: bool) -> None:
        """The Raft core and its loops, once this member may run."""
        peers = () if self.cfg.join else tuple(sorted(self.cfg.peers))
        conf = loaded.conf_state
        if fresh and peers:
            conf = ConfState(peers, ())
            await self._io(self.sm.bootstrap, conf)
        config = Config(
            id=self.id, peers=peers, election_tick=self.cfg.election_ticks,
            heartbeat_tick=self.cfg.heartbeat_ticks,
            read_only=readmodes.core_read_only(self.read_mode),
            unsafe_bug=self.cfg.unsafe_bug, leader_ack_on_persist=True,
        )
        config.validate()
        state = InitialState(hard_state=loaded.hard_state, conf_state=conf, snapshot=loaded.snapshot,
                             entries=loaded.entries, applied=loaded.applied)
        self.raw = RawNode(config, state, self.rng)
        # Loading the log is not time the cluster saw us absent: the replica's clock starts now.
        self.replica = Replica(self.raw, node_id=self.id, clock=self.clock, tick_s=self.cfg.tick_ms / 1000,
                               election_ticks=self.cfg.election_ticks, request_timeout=self.cfg.request_timeout,
                               wake=self._wake.set, address_of=self.client_address, pid_base=self.id,
                               bug=self._bug, on_conf=self._on_conf_applied)
        self.replica.on_hard_state(loaded.hard_state)
        self._durable = self.sm.last_index
        self.snapshot_index = loaded.snapshot.index if loaded.snapshot else 0
        self._last_synced = loaded.hard_state
        self._members = dict(loaded.members)
        for nid, (peer, _client) in self._members.items():
            if nid not in self.cfg.peers and nid != self.id and peer:
                self.transport.add_peer(nid, peer)
        loop = asyncio.get_running_loop()
        self._tasks += [loop.create_task(ticker(self.clock, self.cfg.tick_ms / 1000, lambda: (self.replica,))),
                        loop.create_task(self._ready_loop())]
        if not self.running.done():
            self.running.set_result(None)
        log.info("node %d started: term %d, applied %d, snapshot %d, voters %s",
                 self.id, self.term, self.applied, self.snapshot_index, conf.voters)

    def _known(self, peer: int) -> bool:
        return peer in self._members or peer in self.cfg.peers or self._stopped

    def _conf_now(self):
        if self.raw is None:
            return None
        st = self.raw.status()
        return st["voters"], st["learners"], st["applied"]

    @property
    def role(self) -> Role:
        return self.replica.role if self.replica is not None else Role.FOLLOWER

    @property
    def leader(self) -> int:
        return self.replica.leader if self.replica is not None else NONE

    @property
    def term(self) -> int:
        return self.replica.term if self.replica is not None else 0

    @property
    def applied(self) -> int:
        return self.replica.applied if self.replica is not None else 0

    @property
    def cluster_id(self) -> str:
        return self.formation.saved.cluster_hex()

    async def stop(self) -> None:
        self._stopped = True
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.transport.close()
        # Whatever the log lane still writes lands before the store closes.
        await self._log_lane.runner.run(_nothing)
        await self._io(self.db.close)
        self._log_lane.runner.shutdown()
        self._exec.shutdown()

    def _bug(self, name: str) -> bool:
        """The node's single branch point for planted bugs (see UNSAFE_BUGS)."""
        return self.cfg.unsafe_bug == name

    async def _io(self, fn, *args):
        return await self._exec.run(fn, *args)

    # --- inputs ----------------------------------------------------------------------
    def _on_frame(self, kind: int, payload) -> None:
        if kind == RAFT:
            if self.raw is None:
                return  # not a member yet (the cluster is forming)
            try:
                self.raw.step(from_wire(payload))
            except Exception as e:  # a message the core rejects must not kill the node
                log.debug("step: %s", e)
            self._wake.set()
        elif kind in (OFFER, CHUNK, ACK):
            self.snapshots.on_frame(kind, payload)
        elif kind == identity.IDENTITY:
            self.formation.on_frame(payload)

    def _on_unreachable(self, peer: int) -> None:
        if self.raw is not None:
            self.raw.report_unreachable(peer)

    def _send_frame(self, to: int, kind: int, payload) -> None:
        self.transport.send(to, kind, payload)

    # --- the ready loop -----------------------------------------------------------
    async def _ready_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.raw.has_ready():
                await process.or_exit(self._handle(self.raw.ready()), self._fatal)

    async def _handle(self, rd) -> None:
        if rd.soft_state is not None:
            self._on_soft_state(rd.soft_state)
        if rd.snapshot is not None:
            # Installing replaces the store: nothing of ours may still be on its way to it.
            await self._drain()
            await self._install_snapshot(rd.snapshot, rd.hard_state or self._last_synced)
        hs = rd.hard_state
        vote_changed = hs is not None and (hs.term, hs.vote) != (self._last_synced.term, self._last_synced.vote)
        sync = bool(rd.must_sync or rd.entries or vote_changed)
        # A membership change takes effect when applied: on disk first, so a
        # node killed right after it acted on the change still knows it.
        conf_index = max((e.index for e in rd.committed_entries if e.type == EntryType.CONF_CHANGE), default=0)
        conf = bool(conf_index)
        if self._bug("no-fsync"):  # UNSAFE planted bug: acknowledge what only sits in the page cache
            sync = conf = False
        messages = rd.messages
        if vote_changed and self._bug("vote-not-persisted"):
            # UNSAFE planted bug: the vote reply leaves at once and the vote is
            # never written, so a restarted node may vote again in the same term.
            self._send([m for m in messages if m.type == MsgType.VOTE_RESP])
            messages = [m for m in messages if m.type != MsgType.VOTE_RESP]
            hs = HardState(hs.term, NONE, hs.commit)
            sync = bool(rd.must_sync or rd.entries)
        # Raft thesis 10.2.1: a leader may write its log in parallel with its
        # followers. The core counts the leader's own entries only once they
        # are synced (leader_ack_on_persist), so its messages never announce a
        # commit that rests on an unsynced copy and may leave at once. Everyone
        # else's messages wait until all storage work handed out before them
        # is synced: exactly as if each Ready had been written before the next.
        if self.role == Role.LEADER and not vote_changed:
            self._send(messages)
            messages = ()
        elif messages and not vote_changed and not self._votes_inflight:
            # A heartbeat reply claims nothing about our log, only the term,
            # which is on disk: it need not wait for an fsync of entries. So
            # a slow disk never looks to the leader like a lost follower
            # (CheckQuorum would depose it).
            beats = [m for m in messages if m.type == MsgType.HEARTBEAT_RESP]
            if beats:
                self._send(beats)
                messages = [m for m in messages if m.type != MsgType.HEARTBEAT_RESP]
        if hs is not None:
            self._last_synced = hs
            self.replica.on_hard_state(hs)
        if rd.entries:
            # Entries that overwrite our suffix: until they are written, the entries at those
            # indexes on our disk are the old ones, and nothing there may be applied.
            self._durable = min(self._durable, rd.entries[0].index - 1)
            self.metrics.batches += 1
            self.metrics.batched_entries += len(rd.entries)
            last = rd.entries[-1]
            mark = (last.index, last.term)
        else:
            mark = None
        if rd.committed_entries:
            self._to_apply.append((rd.committed_entries, conf))
            self._pump_applies()
        if rd.entries or sync or vote_changed or rd.snapshot is not None:
            w = _Write(rd.entries, self._unwritten_hs if hs is None else hs, sync, list(messages), mark,
                       vote_changed)
            self._unwritten_hs = None
            self._votes_inflight += vote_changed
            self._submit(w)
        else:
            if hs is not None:
                # Only the commit index moved: not worth a write of its own; it
                # goes with the next batch (Raft does not need it on disk).
                self._unwritten_hs = hs
            if messages:
                if self._inflight:
                    self._inflight[-1].messages.extend(messages)
                else:
                    self._send(messages)
        if conf_index:
            # A membership change is applied before the core's applied index passes it (as etcd's
            # server waits before Advance): until then the one-change-at-a-time gate must hold
            # and no election may start under a configuration that is about to change.
            await self.replica.applied_at_least(conf_index)
        self.raw.advance(rd)
        for rs in rd.read_states:
            self.replica.on_read_state(rs.index, rs.ctx)

    # --- the storage pipeline -------------------------------------------------------
    # Two lanes, each one thread taking everything queued for it at once:
    # the log lane appends entries and hard state (one fsync per round: group
    # commit), the apply lane applies committed entries. Applying never waits
    # behind the fsync of newer entries: an entry is applied as soon as it is
    # committed and on our own disk. The lanes touch disjoint parts of the
    # state machine (log and hard state / data, sessions, applied index).
    def _submit(self, w: "_Write") -> None:
        self._inflight.append(w)
        self._log_lane.put(w)

    def _log_round(self, items) -> None:
        """Log lane: append everything queued, in order, with one fsync."""
        sm = self.sm
        todo = [w for w in items if w.entries or w.hs is not None]
        sync = any(w.sync for w in items)
        t0 = time.perf_counter()
        for i, w in enumerate(todo):
            sm.persist_and_apply(w.entries, w.hs, (), sync and i == len(todo) - 1)
        took = time.perf_counter() - t0 if sync and todo else None
        self._loop.call_soon_threadsafe(self._round_done, items, sm.last_index, took)

    def _round_done(self, items, last_index, took) -> None:
        if took is not None:
            self.metrics.observe_fsync(took)
        for w in items:
            if self._inflight and self._inflight[0] is w:
                self._inflight.popleft()
        self._durable = self._durable_end(last_index)
        for w in items:
            if w.mark is not None:
                self.raw.persisted(*w.mark)
            self._votes_inflight -= w.vote
            self._send(w.messages)
        self._pump_applies()
        self._check_drained()
        self._wake.set()  # what became durable may commit (leader) or release a new Ready

    def _durable_end(self, last_index: int) -> int:
        """Our log is on disk up to here: what the log lane wrote, below any overwrite still queued."""
        for w in self._inflight:
            if w.entries:
                last_index = min(last_index, w.entries[0].index - 1)
        return last_index

    def _pump_applies(self) -> None:
        """Apply committed entries once our own log has them on disk.

        An unsynced apply is a short Pebble write: done here on the loop it
        saves two thread switches per batch. It goes through the apply lane
        instead when it must be synced (membership), when a checkpoint may be
        reading the state machine, or behind applies already in that lane.
        """
        q = self._to_apply
        while q and q[0][0][-1].index <= self._durable:
            committed, conf = q.popleft()
            if conf or self._snapshotting or self._applies_inflight:
                self._applies_inflight += 1
                self._apply_lane.put((committed, conf))
            else:
                try:
                    applied = self.sm.persist_and_apply((), None, committed, False)
                except Exception as e:
                    self._fatal("applying committed entries", e)
                    return
                self._applies_inflight += 1
                self._applies_done([applied])

    def _apply_round(self, items) -> None:
        """Apply lane: apply everything queued, in order; synced if it changes the membership."""
        sm = self.sm
        sync = any(conf for _, conf in items)
        done = [sm.persist_and_apply((), None, committed, sync and i == len(items) - 1)
                for i, (committed, _) in enumerate(items)]
        self._loop.call_soon_threadsafe(self._applies_done, done)

    def _applies_done(self, done) -> None:
        for applied in done:
            self._applies_inflight -= 1
            self.replica.on_applied(applied)
        if (self.applied - self.snapshot_index >= self.cfg.snapshot_every and not self._snapshotting):
            self._snapshotting = True
            asyncio.get_running_loop().create_task(self._take_snapshot())
        self._check_drained()

    def _check_drained(self) -> None:
        if not self._inflight and not self._to_apply and not self._applies_inflight:
            waiters, self._drain_waiters = self._drain_waiters, []
            for f in waiters:
                if not f.done():
                    f.set_result(None)

    async def _drain(self) -> None:
        """Wait until all queued storage work is synced and applied."""
        if self._inflight or self._to_apply or self._applies_inflight:
            fut = asyncio.get_running_loop().create_future()
            self._drain_waiters.append(fut)
            await fut

    def _send(self, messages) -> None:
        for m in messages:
            if m.type == MsgType.SNAP:
                self._start_snapshot_send(m)
            else:
                self.transport.send(m.to, RAFT, to_wire(m))

    def _on_soft_state(self, ss) -> None:
        if ss.role in (Role.CANDIDATE, Role.PRE_CANDIDATE) and self.role not in (Role.CANDIDATE, Role.PRE_CANDIDATE):
            self.metrics.elections += 1
        if ss.leader != self.leader:
            self.metrics.leader_changes += 1
            if ss.leader:
                log.info("node %d: leader is now %d", self.id, ss.leader)
        if ss.role != self.role:
            # Who started an election and who stepped down, to explain leader churn.
            log.info("node %d: %s -> %s (term %d)", self.id, ROLE_NAMES.get(self.role), Role(ss.role).name.lower(),
                     self.raw.status().get("term", 0))
        self.replica.on_soft_state(ss)

    # --- membership ---------------------------------------------------------------
    def _on_conf_applied(self, cc: ConfChange) -> None:
        if cc.type == ConfChangeType.ADD_LEARNER and cc.context:
            try:
                peer, client = msgpack.unpackb(cc.context, raw=False)
                self._members[cc.node_id] = (peer, client)
                if cc.node_id != self.id:
                    # An initial member removed and added back is dialled where --peers says (a
                    # proxy on the local backend), else where the change says.
                    self.transport.add_peer(cc.node_id, self.cfg.peers.get(cc.node_id) or peer)
            except (ValueError, TypeError, msgpack.UnpackException):
                log.warning("conf change for %d with unreadable context", cc.node_id)
        elif cc.type == ConfChangeType.REMOVE and cc.node_id != self.id:
            self.transport.remove_peer(cc.node_id)

    def _running(self) -> Replica:
        if self.replica is None:
            raise errors.NotLeader()  # not a member yet: the cluster forms
        return self.replica

    async def add_learner(self, node_id: int, peer_address: str, client_address: str) -> None:
        ctx = msgpack.packb([peer_address, client_address], use_bin_type=True)
        await self._running().change_membership(ConfChange(ConfChangeType.ADD_LEARNER, node_id, ctx))

    async def promote(self, node_id: int) -> None:
        await self._running().change_membership(ConfChange(ConfChangeType.PROMOTE, node_id))

    async def remove(self, node_id: int) -> None:
        await self._running().change_membership(ConfChange(ConfChangeType.REMOVE, node_id))

    async def transfer_leader(self, to: int) -> None:
        await self._running().transfer_leader(to)

    # --- writes and reads ---------------------------------------------------------------
    async def write(self, op: str, key: str, a, b, request_id: str | None):
        r = self._running()
        pid = r.new_pid()
        try:
            result = await r.propose(pid, encode_command(op, pid, request_id, key, a, b))
        except errors.NotLeader:
            raise
        except errors.KVError:
            self.metrics.proposals_failed += 1
            raise
        self.metrics.proposals += 1
        return result

    async def read(self, key: str, mode: str | None = None) -> bytes | None:
        """mode: what the request asked (None: the node's --read-mode); BadRequest if it may not have it."""
        mode = readmodes.served(mode, self.read_mode)
        r = self._running()
        self.metrics.reads[mode] = self.metrics.reads.get(mode, 0) + 1
        if mode == readmodes.LOCAL_UNSAFE or self._bug("stale-read"):  # UNSAFE: may return stale data
            return self.sm.read(key)
        if mode == readmodes.LOG:
            return await self.write("r", key, None, None, None)
        await r.read_index(at_leader=mode in readmodes.AT_LEADER, lease=mode == readmodes.LEASE)
        return self.sm.read(key)

    # --- snapshots -------------------------------------------------------------------
    def _checkpoint_now(self):
        """Storage thread: checkpoint the store at the applied index, then drop the log behind it."""
        meta = self.sm.snapshot_meta()
        target = self.snap_dir / str(meta.index)
        tmp = self.snap_dir / f"{meta.index}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        self.snap_dir.mkdir(parents=True, exist_ok=True)
        self.db.checkpoint(str(tmp))
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        self.sm.record_snapshot(meta)
        keep = sorted((int(p.name) for p in self.snap_dir.iterdir() if p.name.isdigit()), reverse=True)
        for old in keep[2:]:  # the previous one may still be streaming to a follower
            shutil.rmtree(self.snap_dir / str(old), ignore_errors=True)
        return meta

    async def _take_snapshot(self) -> None:
        try:
            meta = await self._io(self._checkpoint_now)
            self.raw.compact(meta.index, meta)
            self.snapshot_index = meta.index
            self.metrics.snapshots_taken += 1
            log.info("node %d: snapshot at %d", self.id, meta.index)
        except Exception:
            log.exception("taking a snapshot")
        finally:
            self._snapshotting = False

    def _start_snapshot_send(self, m: Message) -> None:
        if m.to in self._sending_snap:
            return
        self._sending_snap.add(m.to)
        asyncio.get_running_loop().create_task(self._send_snapshot(m))

    async def _send_snapshot(self, m: Message) -> None:
        ok = False
        try:
            directory = self.snap_dir / str(m.snapshot.index)
            if not directory.is_dir():
                log.warning("no checkpoint for snapshot %d", m.snapshot.index)
            else:
                ok = await self.snapshots.stream(m.to, m.snapshot.index, directory)
                if ok:
                    ok = self.transport.send(m.to, RAFT, to_wire(m))
                    self.metrics.snapshots_sent += ok
        finally:
            self._sending_snap.discard(m.to)
            self.raw.report_snapshot(m.to, ok)
            self._wake.set()

    async def _install_snapshot(self, meta, hard_state: HardState) -> None:
        src = self.snapshots.ready_dir(meta.index)
        if src is None:
            raise RuntimeError(f"snapshot {meta.index} was not received before its SNAP message")

        def adopt(db) -> None:
            # The checkpoint carries the sender's log, hard state and identity: ours replace them.
            self.sm.db = db
            self.sm.adopt_snapshot(meta, hard_state)
            identity.save(db, self.formation.saved)

        def install():
            # Made ours before it becomes our store, so a crash at any point leaves either the old
            # store or the new one whole (never the sender's term, vote or identity in our place).
            incoming = self._open_storage(src, True)
            adopt(incoming)
            incoming.close()
            self.db.close()
            old = self.db_path.with_name("db.old")
            shutil.rmtree(old, ignore_errors=True)
            if self.db_path.exists():
                self.db_path.rename(old)
            src.rename(self.db_path)
            fsync_dir(self.db_path.parent)
            self.db = self._open_storage(self.db_path, True)
            adopt(self.db)  # a store that lives in memory forgot it with the close
            shutil.rmtree(old, ignore_errors=True)
            self.snapshots.clear()
            return self._checkpoint_now()  # so this node can send it on if it leads later

        await self._io(install)
        self._durable = self.sm.last_index
        self.replica.on_applied(Applied(index=self.sm.applied, term=self.sm.applied_term))
        self.snapshot_index = meta.index
        self._members = self.sm.members() | self._members
        for nid, (peer, _) in self._members.items():
            if nid != self.id and nid not in self.cfg.peers and peer:
                self.transport.add_peer(nid, peer)
        self.metrics.snapshots_installed += 1
        log.info("node %d: installed snapshot %d", self.id, meta.index)

    def _recover_interrupted_install(self) -> None:
        """A crash between the two renames of an install left db.old alone: the old store comes back.
        With both there, the swap finished and db (adopted before it was moved in) is ours."""
        old = self.db_path.with_name("db.old")
        if old.exists():
            if self.db_path.exists():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.rename(self.db_path)

    # --- reporting ---------------------------------------------------------------------
    def client_address(self, node_id: int) -> str | None:
        if not node_id:
            return None
        addr = self.cfg.peer_clients.get(node_id)
        if addr is None and node_id in self._members:
            addr = self._members[node_id][1] or None
        return addr

    def leader_address(self) -> str | None:
        return self.client_address(self.leader)

    def status(self) -> dict:
        if self.raw is None:
            return {"id": self.id, "role": "forming", "term": 0, "leader": None, "leader_address": None,
                    "commit": 0, "applied": 0, "snapshot_index": 0, "log_size": 0, "read_mode": self.read_mode,
                    "incarnation": self.incarnation, "cluster_id": "", "voters": [], "learners": []}
        st = self.raw.status()
        return {
            "id": self.id, "role": ROLE_NAMES.get(self.role, "follower"), "term": self.term,
            "leader": self.leader or None, "leader_address": self.leader_address(),
            "commit": st.get("commit", 0), "applied": self.applied,
            "snapshot_index": self.snapshot_index, "log_size": self.sm.last_index - self.snapshot_index,
            "read_mode": self.read_mode, "incarnation": self.incarnation, "cluster_id": self.cluster_id,
            "voters": st.get("voters", []), "learners": st.get("learners", []),
        }

    def metric_families(self):
        """What /metrics shows (reference_kv.metrics; names as the README lists them)."""
        from reference_kv.metrics import counter, gauge, histogram, labelled
        m = self.metrics
        st = self.raw.status() if self.raw is not None else {}
        commit = st.get("commit", 0)
        return [
            gauge("term", "Current Raft term.", self.term),
            gauge("is_leader", "1 if this node is the leader.", int(self.role == Role.LEADER)),
            counter("elections_total", "Elections this node started (pre-vote included).", m.elections),
            counter("leader_changes_total", "Times the known leader changed.", m.leader_changes),
            counter("proposals_total", "Client proposals accepted by the core.", m.proposals),
            counter("proposals_failed_total", "Proposals dropped or timed out.", m.proposals_failed),
            gauge("commit_index", "Commit index.", commit),
            gauge("applied_index", "Applied index.", self.applied),
            gauge("apply_lag", "Committed but not yet applied entries.", max(0, commit - self.applied)),
            gauge("snapshot_index", "Index of the latest snapshot.", self.snapshot_index),
            counter("snapshots_taken_total", "Snapshots taken.", m.snapshots_taken),
            counter("snapshots_sent_total", "Snapshots streamed to followers.", m.snapshots_sent),
            counter("snapshots_installed_total", "Snapshots installed from a leader.", m.snapshots_installed),
            gauge("entries_per_batch", "Mean log entries per persisted batch (group commit).",
                  round(m.batched_entries / m.batches, 3) if m.batches else 0),
            labelled("reads_total", "Reads served, by mode.", "mode", m.reads),
            histogram("fsync_seconds", "Latency of synced storage batches.", FSYNC_BUCKETS,
                      m.fsync_buckets + [m.fsync_count - sum(m.fsync_buckets)], m.fsync_sum),
        ]
