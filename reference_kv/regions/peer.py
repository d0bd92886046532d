"""One replica of one Raft group on a store: the shared replica driver plus what a Region adds.

The store owns the loop, the storage lane and the transport; a peer turns client calls into
proposals and reads on its own RawNode (through reference_kv.replica) and keeps the Region's own
state: its descriptor, a prepared merge, and the counters that decide splits and compactions.
"""
from __future__ import annotations

import random

from reference_kv import readmodes
from reference_kv.raft import Config, InitialState, RawNode
from reference_kv.raft.types import HardState, Role
from reference_kv.replica import Replica
from reference_kv.statemachine import StateMachine, encode_command


class RegionPeer(Replica):
    def __init__(self, store, region_id: int, sm: StateMachine | None, region=None):
        self.store = store
        self.id = region_id  # the Region's; the driver's node id is the store's
        self.region = region  # None for the meta group, which owns no user keys
        self.sm = sm
        self.hard = HardState()
        self.written = 0  # bytes proposed since the last size check (the leader's split trigger)
        self.unflushed = 0  # bytes proposed since the last memtable flush (see split.py)
        self.requests = 0  # client requests since the last split check (hot Regions split early)
        self.splitting = False
        self.compacted = 0  # the log holds entries after this index only
        self.compactions: list = []  # SnapshotMeta of log compactions applied, for the core (storage lane)
        self.new_regions: list = []  # filled on the storage lane by a split, taken by the store
        self.wanted_at = float("-inf")  # last time this replica asked its leader for a snapshot
        self.uninit = False  # an empty replica of a Region not known here yet: owns nothing until a snapshot
        self.merging: tuple[str, int] | None = None  # (side of the target, prepare index) once prepared
        self.merged: list[int] = []  # source Regions absorbed on the storage lane, destroyed by the store

    def boot(self, loaded, cfg) -> None:
        config = Config(id=cfg.id, peers=tuple(loaded.conf_state.voters), election_tick=cfg.election_ticks,
                        heartbeat_tick=cfg.heartbeat_ticks, read_only=readmodes.core_read_only(cfg.read_mode),
                        unsafe_bug=cfg.unsafe_bug)
        config.validate()
        state = InitialState(hard_state=loaded.hard_state, conf_state=loaded.conf_state,
                             snapshot=loaded.snapshot, entries=loaded.entries, applied=loaded.applied)
        s = self.store
        raw = RawNode(config, state, random.Random(s.rng.getrandbits(64)))
        Replica.__init__(self, raw, node_id=s.id, clock=s.clock, tick_s=cfg.tick_ms / 1000,
                         election_ticks=cfg.election_ticks, request_timeout=cfg.request_timeout, wake=s.wake,
                         address_of=s.client_address, pid_base=s.id, on_conf=s.membership.on_applied)
        self.on_hard_state(loaded.hard_state)
        self.hard = loaded.hard_state

    # --- client calls --------------------------------------------------------------
    async def command(self, op: str, key: str, a, b, request_id: str | None):
        """A command through this group's log; -> its apply result."""
        self.require_leader()
        self.requests += 1
        pid = self.new_pid()
        result = await self.propose(pid, encode_command(op, pid, request_id, key, a, b))
        size = len(key) + (len(a) if isinstance(a, (bytes, str)) else 0) + \
            (len(b) if isinstance(b, (bytes, str)) else 0)
        self.written += size
        self.unflushed += size
        return result

    async def read(self, mode: str) -> None:
        """Wait until this replica may serve a read in `mode` (readindex, lease or follower)."""
        self.requests += 1
        await self.read_index(at_leader=mode in readmodes.AT_LEADER, lease=mode == readmodes.LEASE)

    # --- what a Ready produced ----------------------------------------------------
    def on_soft_state(self, ss) -> bool:
        lost = Replica.on_soft_state(self, ss)
        if ss.role == Role.LEADER:
            self.written = self.store.cfg.split_size  # measure soon: the old leader may have been near the limit
        return lost

    def on_hard_state(self, hs) -> None:
        Replica.on_hard_state(self, hs)
        self.hard = hs
