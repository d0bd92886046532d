"""Membership changes as log entry payloads (EntryType.CONF_CHANGE)."""
from __future__ import annotations

import struct

from .types import ConfChange, ConfChangeType

_HEAD = struct.Struct(">BQ")


def encode_conf_change(cc: ConfChange) -> bytes:
    return _HEAD.pack(int(cc.type), cc.node_id) + cc.context


def decode_conf_change(data: bytes) -> ConfChange:
    if len(data) < _HEAD.size:
        raise ValueError(f"conf change payload too short: {len(data)} bytes")
    t, node_id = _HEAD.unpack_from(data)
    return ConfChange(ConfChangeType(t), node_id, bytes(data[_HEAD.size:]))
