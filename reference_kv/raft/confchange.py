"""Membership changes as log entry payloads (EntryType.CONF_CHANGE)."""
from __future__ import annotations

import struct

from .types import ConfChange, ConfChangeType, ConfState

# type, node id, context length, number of base voters, number of base
# learners (0xFFFF: no base); then context, then the base's ids.
_HEAD = struct.Struct(">BQIHH")
_NO_BASE = 0xFFFF


def encode_conf_change(cc: ConfChange) -> bytes:
    if cc.base is None:
        head = _HEAD.pack(int(cc.type), cc.node_id, len(cc.context), 0, _NO_BASE)
        return head + cc.context
    v, lr = cc.base.voters, cc.base.learners
    head = _HEAD.pack(int(cc.type), cc.node_id, len(cc.context), len(v), len(lr))
    return head + cc.context + struct.pack(f">{len(v) + len(lr)}Q", *v, *lr)


def decode_conf_change(data: bytes) -> ConfChange:
    if len(data) < _HEAD.size:
        raise ValueError(f"conf change payload too short: {len(data)} bytes")
    t, node_id, nctx, nv, nl = _HEAD.unpack_from(data)
    pos = _HEAD.size
    ctx = bytes(data[pos:pos + nctx])
    pos += nctx
    base = None
    if nl != _NO_BASE:
        ids = struct.unpack_from(f">{nv + nl}Q", data, pos)
        base = ConfState(tuple(ids[:nv]), tuple(ids[nv:]))
    return ConfChange(ConfChangeType(t), node_id, ctx, base)
