"""One replica of one Raft group on a store: its RawNode, state machine and waiting clients.

The store owns the loop, the storage thread and the transport; a peer only
turns client calls into proposals and read requests on its own RawNode and
resolves their futures when the store hands it what its Ready produced.
"""
from __future__ import annotations

import asyncio
import itertools
import random

from reference_kv.node import not_leader, timeout
from reference_kv.raft import Config, InitialState, NotLeader, ProposalDropped, RawNode
from reference_kv.raft.types import NONE, HardState, Role
from reference_kv.statemachine import StaleRequest, StateMachine, encode_command
from reference_kv.waiting import AppliedWaiters, fail_all, settle

ROLE_NAMES = {Role.FOLLOWER: "follower", Role.CANDIDATE: "candidate", Role.PRE_CANDIDATE: "candidate",
              Role.LEADER: "leader", Role.LEARNER: "learner"}


class RegionPeer:
    def __init__(self, store, region_id: int, sm: StateMachine, region=None):
        self.store = store
        self.id = region_id
        self.region = region  # None for the meta group, which owns no user keys
        self.sm = sm
        self.role = Role.FOLLOWER
        self.leader = NONE
        self.term = 0
        self.applied = 0
        self.hard = HardState()
        self.written = 0  # bytes proposed since the last size check (the leader's split trigger)
        self.unflushed = 0  # bytes proposed since the last memtable flush (see split.py)
        self.requests = 0  # client requests since the last split check (hot Regions split early)
        self.splitting = False
        self.compacted = 0  # the log holds entries after this index only
        self.compactions: list = []  # SnapshotMeta of log compactions applied, for the core (storage thread)
        self.new_regions: list = []  # filled on the storage thread by a split, taken by the store
        self.wanted_at = float("-inf")  # last time this replica asked its leader for a snapshot
        self.uninit = False  # an empty replica of a Region not known here yet: owns nothing until a snapshot
        self.merging: tuple[str, int] | None = None  # (side of the target, prepare index) once prepared
        self.merged: list[int] = []  # source Regions absorbed on the storage thread, destroyed by the store
        self._pending: dict[int, asyncio.Future] = {}
        self._pid = itertools.count(1)
        self._reads: dict[bytes, tuple[float, asyncio.Future]] = {}
        self._read_ctx = itertools.count(1)
        self._waiters = AppliedWaiters()

    def boot(self, loaded, cfg) -> None:
        config = Config(id=cfg.id, peers=tuple(loaded.conf_state.voters), election_tick=cfg.election_ticks,
                        heartbeat_tick=cfg.heartbeat_ticks,
                        read_only="lease_based" if cfg.read_mode == "lease" else "safe",
                        unsafe_bug=cfg.unsafe_bug)
        config.validate()
        state = InitialState(hard_state=loaded.hard_state, conf_state=loaded.conf_state,
                             snapshot=loaded.snapshot, entries=loaded.entries, applied=loaded.applied)
        self.raw = RawNode(config, state, random.Random(self.store.rng.getrandbits(64)))
        self.applied = loaded.applied
        self.hard = loaded.hard_state
        self.term = loaded.hard_state.term

    # --- client calls --------------------------------------------------------------
    def require_leader(self) -> None:
        if self.role != Role.LEADER:
            raise not_leader(self.leader, self.store.client_address(self.leader))

    async def propose(self, op: str, key: str, a, b, request_id: str | None):
        self.require_leader()
        self.requests += 1
        pid = (self.store.id << 40) | next(self._pid)
        fut = asyncio.get_running_loop().create_future()
        self._pending[pid] = fut
        try:
            self.raw.propose(encode_command(op, pid, request_id, key, a, b))
        except NotLeader as e:
            self._pending.pop(pid, None)
            raise not_leader(e.leader, self.store.client_address(e.leader)) from None
        except ProposalDropped:
            self._pending.pop(pid, None)
            raise not_leader(self.leader if self.leader != self.store.id else NONE, None) from None
        size = len(key) + (len(a) if isinstance(a, (bytes, str)) else 0) + \
            (len(b) if isinstance(b, (bytes, str)) else 0)
        self.written += size
        self.unflushed += size
        self.store.wake()
        try:
            result = await asyncio.wait_for(fut, self.store.cfg.request_timeout)
        except asyncio.TimeoutError:
            self._pending.pop(pid, None)
            raise timeout() from None
        if isinstance(result, StaleRequest):
            raise timeout("request id too old to know its outcome")
        return result

    async def read_index(self, mode: str) -> None:
        """Wait until this replica has applied everything committed when the read arrived."""
        self.requests += 1
        if mode in ("readindex", "lease"):
            self.store.catch_up_ticks()  # the lease is measured in real time, not in ticks we happened to run
            self.require_leader()
        elif self.leader == NONE:
            raise not_leader(NONE, None)
        ctx = next(self._read_ctx).to_bytes(8, "big")
        fut = asyncio.get_running_loop().create_future()
        self._reads[ctx] = (self.store.clock.now(), fut)
        try:
            self.raw.read_index(ctx)
        except NotLeader as e:
            self._reads.pop(ctx, None)
            raise not_leader(e.leader, self.store.client_address(e.leader)) from None
        self.store.wake()
        try:
            index = await asyncio.wait_for(fut, self.store.cfg.request_timeout)
            await asyncio.wait_for(self._waiters.wait(self.applied, index), self.store.cfg.request_timeout)
        except asyncio.TimeoutError:
            raise timeout("read index not confirmed in time") from None
        finally:
            self._reads.pop(ctx, None)

    # --- what a Ready produced ----------------------------------------------------
    def on_soft_state(self, ss) -> None:
        was_leader = self.role == Role.LEADER
        self.role, self.leader = ss.role, ss.leader
        if was_leader and ss.role != Role.LEADER:
            # Our proposals may still commit under the next leader: outcome unknown, answer now.
            fail_all(self._pending.values(), timeout("leadership lost"))
            self._pending.clear()
            fail_all((f for _, f in self._reads.values()), not_leader(self.leader, self.store.client_address(self.leader)))
        if ss.role == Role.LEADER and not was_leader:
            self.written = self.store.cfg.split_size  # measure soon: the old leader may have been near the limit

    def on_applied(self, applied) -> None:
        for _entry, cc in applied.conf_changes:
            self.raw.apply_conf_change(cc)
        self.applied = applied.index
        settle(self._pending, applied.results)
        self._waiters.release(self.applied)

    def on_read_state(self, index: int, ctx: bytes) -> None:
        entry = self._reads.get(ctx)
        if entry is not None and not entry[1].done():
            entry[1].set_result(index)

    def expire_reads(self, now: float) -> None:
        """A read whose round was lost (dropped message, leader change) asks again."""
        limit = self.store.cfg.tick_ms / 1000 * self.store.cfg.election_ticks * 2
        for ctx, (started, fut) in list(self._reads.items()):
            if now - started > limit and not fut.done():
                self._reads[ctx] = (now, fut)
                try:
                    self.raw.read_index(ctx)
                except NotLeader:
                    pass

    def destroy(self, err) -> None:
        """Merged away: whoever still waits here is answered (nothing of theirs applies any more)."""
        fail_all(list(self._pending.values()) + [f for _, f in self._reads.values()], err)
        self._pending.clear()
        self._waiters.fail(err)

    def status(self) -> dict:
        return {"role": ROLE_NAMES.get(self.role, "follower"), "term": self.term,
                "leader": self.leader or None, "applied": self.applied,
                "commit": self.raw.status().get("commit", 0)}
