"""What the node tells the core when it creates it: settings and persisted state."""
from __future__ import annotations

from dataclasses import dataclass, field

from .types import ConfState, Entry, HardState, SnapshotMeta

READ_SAFE = "safe"
READ_LEASE = "lease_based"


@dataclass(slots=True)
class Config:
    id: int
    peers: tuple[int, ...] = ()  # initial voters; empty for a node joining later
    learners: tuple[int, ...] = ()
    election_tick: int = 10
    heartbeat_tick: int = 1
    pre_vote: bool = True
    check_quorum: bool = True
    read_only: str = READ_SAFE  # "safe" (ReadIndex) or "lease_based"
    # The leader trusts its lease this many ticks less than a follower waits
    # before it grants a vote: covers clock drift and tick phase (>= 1).
    # None = election_tick // 2 + 1: the lease (4 of 10 ticks) stays shorter
    # than the shortest election in real time while the leader's clock runs at
    # >= 0.5x its followers' (4 / 0.5 = 8 ticks, plus one tick of phase < 10).
    lease_drift_ticks: int | None = None
    max_size_per_msg: int = 1 << 20
    max_inflight_msgs: int = 256
    max_entries_per_msg: int = 4096
    max_committed_per_ready: int = 4096  # bounds the work of one apply step
    # False: the leader counts its own new entries towards commit at once, so
    # the node must not hand out another Ready before they are on disk.
    # True: they count only once the node reports them with persisted(), so
    # the node may keep replicating while its own write is in flight (Raft
    # thesis 10.2.1) without a commit index ever resting on an unsynced copy.
    leader_ack_on_persist: bool = False
    unsafe_bug: str | None = None  # name of a planted bug; see Raft._bug

    def drift_ticks(self) -> int:
        if self.lease_drift_ticks is None:
            return self.election_tick // 2 + 1
        return self.lease_drift_ticks

    def validate(self) -> None:
        if self.id <= 0:
            raise ValueError(f"node id must be >= 1, got {self.id}")
        if self.heartbeat_tick <= 0:
            raise ValueError("heartbeat_tick must be >= 1")
        if self.election_tick <= self.heartbeat_tick:
            raise ValueError("election_tick must be greater than heartbeat_tick")
        if self.read_only not in (READ_SAFE, READ_LEASE):
            raise ValueError(f"read_only must be 'safe' or 'lease_based', got {self.read_only!r}")
        if self.read_only == READ_LEASE and not self.check_quorum:
            # Without CheckQuorum a deposed leader never learns it lost its
            # lease and followers grant votes at once: lease reads go stale.
            raise ValueError("lease_based reads need check_quorum=True")
        if self.check_quorum and not 1 <= self.drift_ticks() < self.election_tick:
            # A read may ask for the lease whatever read_only says.
            raise ValueError("lease_drift_ticks must be in [1, election_tick)")
        if self.max_inflight_msgs <= 0 or self.max_size_per_msg <= 0:
            raise ValueError("max_inflight_msgs and max_size_per_msg must be positive")
        if set(self.peers) & set(self.learners):
            raise ValueError("a node cannot be both voter and learner")


@dataclass(slots=True)
class InitialState:
    """What the node persisted; all defaults = a brand-new node.

    `conf_state` must be the configuration as of `applied` (empty: use the
    snapshot's, else Config.peers/learners); `entries` are the persisted log
    entries after `snapshot`.
    """

    hard_state: HardState = field(default_factory=HardState)
    conf_state: ConfState = field(default_factory=ConfState)
    snapshot: SnapshotMeta | None = None
    entries: list[Entry] = field(default_factory=list)
    applied: int = 0
