"""The values that cross the boundary of the pure Raft core.

The core (`reference_kv.raft.RawNode`) takes messages, ticks and proposals in and
hands back a `Ready`: what to persist, what to send, what to apply. `node.py`
drives it; nothing here does I/O. These types are the contract between the
two: plain dataclasses, msgpack-friendly through `to_wire` / `from_wire`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

NONE = 0  # "no node": node ids start at 1


class MsgType(IntEnum):
    APP = 1  # AppendEntries (also carries commit)
    APP_RESP = 2
    VOTE = 3
    VOTE_RESP = 4
    PRE_VOTE = 5
    PRE_VOTE_RESP = 6
    HEARTBEAT = 7  # carries commit and, for ReadIndex, a context
    HEARTBEAT_RESP = 8
    SNAP = 9  # InstallSnapshot metadata; the node streams the data in chunks
    SNAP_STATUS = 10  # node-local: report whether a snapshot transfer finished
    READ_INDEX = 11  # follower -> leader: "give me a read index for ctx"
    READ_INDEX_RESP = 12
    TIMEOUT_NOW = 13  # leadership transfer: "campaign now, skip PreVote"
    TRANSFER_LEADER = 14  # node-local or forwarded request to transfer
    PROPOSE = 15  # follower forwards a proposal (optional; nodes may redirect instead)
    UNREACHABLE = 16  # node-local: transport could not reach `frm`


class EntryType(IntEnum):
    NORMAL = 0
    CONF_CHANGE = 1


class ConfChangeType(IntEnum):
    ADD_LEARNER = 0
    PROMOTE = 1  # learner -> voter
    REMOVE = 2


class Role(IntEnum):
    FOLLOWER = 0
    CANDIDATE = 1
    PRE_CANDIDATE = 2
    LEADER = 3
    LEARNER = 4  # a follower that is not a voter in the current configuration


@dataclass(frozen=True, slots=True)
class Entry:
    term: int
    index: int
    type: EntryType = EntryType.NORMAL
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class HardState:
    """Must be on disk before any message that depends on it is sent."""

    term: int = 0
    vote: int = NONE
    commit: int = 0


@dataclass(frozen=True, slots=True)
class ConfState:
    voters: tuple[int, ...] = ()
    learners: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class ConfChange:
    type: ConfChangeType
    node_id: int
    context: bytes = b""  # e.g. the new node's addresses, opaque to the core
    # The configuration the change applies to, filled in by the leader when it
    # proposes: a node that joined with no configuration learns it from here.
    base: ConfState | None = None


@dataclass(frozen=True, slots=True)
class SnapshotMeta:
    index: int = 0
    term: int = 0
    conf: ConfState = field(default_factory=ConfState)


@dataclass(frozen=True, slots=True)
class Message:
    type: MsgType
    to: int
    frm: int
    term: int = 0
    log_term: int = 0  # APP: term of the entry at `index`; VOTE: last log term
    index: int = 0  # APP: index before `entries`; VOTE: last log index; RESP: match/hint
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0  # fast backtracking: follower's suggestion where to retry
    context: bytes = b""  # ReadIndex / transfer context, opaque to the core
    snapshot: SnapshotMeta | None = None


@dataclass(frozen=True, slots=True)
class ReadState:
    """A read index is ready: once applied >= index, reads with ctx may be served."""

    index: int
    ctx: bytes


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile state the node reports in /status; not persisted."""

    leader: int
    role: Role


@dataclass(slots=True)
class Ready:
    """One batch of work for the node, handed out by `RawNode.ready()`.

    The node must, in this order:
    1. if `snapshot`: install the received snapshot data (it was streamed
       beforehand and is keyed by `snapshot.index`), persist the metadata;
    2. persist `entries` (append, truncating any conflicting suffix) and
       `hard_state` (if not None) in one synced batch;
    3. send `messages`;
    4. apply `committed_entries` in order, then `advance(ready)`;
    5. serve reads in `read_states` once applied >= their index.
    """

    soft_state: SoftState | None = None
    hard_state: HardState | None = None
    entries: list[Entry] = field(default_factory=list)
    snapshot: SnapshotMeta | None = None
    committed_entries: list[Entry] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    read_states: list[ReadState] = field(default_factory=list)
    # A SNAP message in `messages` means "send a snapshot to m.to": the node
    # streams its latest checkpoint in chunks, delivers the SNAP message last,
    # and reports the outcome with RawNode.report_snapshot(to, ok).
    must_sync: bool = False  # entries or term/vote changed: the batch must be fsynced


# --- wire format -------------------------------------------------------------
# Messages travel as msgpack arrays, not dicts: smaller and faster.


def entry_to_wire(e: Entry) -> list:
    return [e.term, e.index, int(e.type), e.data]


def entry_from_wire(w: list) -> Entry:
    return Entry(w[0], w[1], EntryType(w[2]), w[3])


def conf_to_wire(c: ConfState) -> list:
    return [list(c.voters), list(c.learners)]


def conf_from_wire(w: list) -> ConfState:
    return ConfState(tuple(w[0]), tuple(w[1]))


def snap_to_wire(s: SnapshotMeta | None):
    return None if s is None else [s.index, s.term, conf_to_wire(s.conf)]


def snap_from_wire(w) -> SnapshotMeta | None:
    return None if w is None else SnapshotMeta(w[0], w[1], conf_from_wire(w[2]))


def to_wire(m: Message) -> list:
    return [
        int(m.type), m.to, m.frm, m.term, m.log_term, m.index,
        [entry_to_wire(e) for e in m.entries], m.commit, m.reject,
        m.reject_hint, m.context, snap_to_wire(m.snapshot),
    ]


def from_wire(w: list) -> Message:
    return Message(
        MsgType(w[0]), w[1], w[2], w[3], w[4], w[5],
        tuple(entry_from_wire(e) for e in w[6]), w[7], w[8], w[9], w[10],
        snap_from_wire(w[11]),
    )
