"""Where a store keeps what in its one key-value store.

    0x10 + region id (8 bytes BE) + <single-group suffix>   a Region's log, hard state, sessions
    0x11 + region id (8 bytes BE) -> Region.pack()          the Regions this store hosts
    0x12 + text                                             the meta group's data (directory)
    0x13 + region id (8 bytes BE) -> [side, index]          a prepared merge (see merge.py)
    0x04 + user key                                         user data (global, as in one group)
"""
from __future__ import annotations

import struct

from reference_kv.statemachine import DATA, SESSION

META_REGION = 0  # the meta group's Region id; data Regions start at 1
FIRST_REGION = 1
LOCAL_REGION = b"\x11"
META_DATA = b"\x12"
MERGING = b"\x13"
_GROUP = b"\x10"


def group_prefix(region_id: int) -> bytes:
    return _GROUP + struct.pack(">Q", region_id)


def local_region_key(region_id: int) -> bytes:
    return LOCAL_REGION + struct.pack(">Q", region_id)


def merging_key(region_id: int) -> bytes:
    return MERGING + struct.pack(">Q", region_id)


def session_key(region_id: int, client_id: str) -> bytes:
    return group_prefix(region_id) + SESSION + client_id.encode()


def data_bounds(start: str, end: str) -> tuple[bytes, bytes]:
    """Storage bounds [lo, hi) of a Region's user data."""
    return DATA + start.encode(), (DATA + end.encode()) if end else bytes([DATA[0] + 1])


def user_key(data_key: bytes) -> str:
    return data_key[len(DATA):].decode()
