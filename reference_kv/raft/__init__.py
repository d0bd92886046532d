"""The Raft algorithm as a pure state machine; see rawnode.RawNode and types.py."""
from .config import READ_LEASE, READ_SAFE, Config, InitialState
from .confchange import decode_conf_change, encode_conf_change
from .errors import (
    ErrCompacted, ErrUnavailable, InvalidConfChange, NotLeader, ProposalDropped, RaftError,
)
from .rawnode import RawNode
from .types import (
    NONE, ConfChange, ConfChangeType, ConfState, Entry, EntryType, HardState, Message,
    MsgType, Ready, ReadState, Role, SnapshotMeta, SoftState, from_wire, to_wire,
)

__all__ = [
    "READ_LEASE", "READ_SAFE", "Config", "InitialState", "decode_conf_change",
    "encode_conf_change", "ErrCompacted", "ErrUnavailable", "InvalidConfChange", "NotLeader",
    "ProposalDropped", "RaftError", "RawNode", "NONE", "ConfChange", "ConfChangeType",
    "ConfState", "Entry", "EntryType", "HardState", "Message", "MsgType", "Ready", "ReadState",
    "Role", "SnapshotMeta", "SoftState", "from_wire", "to_wire",
]
