"""The read modes of the reference KV: the one place their names are declared.

The node's `--read-mode` is its default for requests without `?read=`; a request may ask for another
mode, and gets it or a clear refusal, never a different mode under its name:

- `readindex`: ReadIndex at the leader (a heartbeat round confirms it still leads), then local read.
- `lease`: the leader's lease (CheckQuorum keeps it sound; measured in real time, shorter than an
  election by a drift bound) instead of a round when it is valid, else a round as readindex.
- `log`: the read goes through the Raft log like a write.
- `follower`: any replica asks the leader for a read index, then reads its own applied state.
- `local-unsafe`: UNSAFE, the replica's state as it is (stale reads, to prove the checker): answered
  only by a node started with `--read-mode local-unsafe`.

Clients and the suite ask this module (READ_MODES), they do not copy it.
"""
from __future__ import annotations

from reference_kv.errors import BadRequest
from reference_kv.raft.config import READ_LEASE, READ_SAFE

READINDEX = "readindex"
LEASE = "lease"
LOG = "log"
FOLLOWER = "follower"
LOCAL_UNSAFE = "local-unsafe"
READ_MODES = (READINDEX, LEASE, LOG, FOLLOWER, LOCAL_UNSAFE)
DEFAULT = READINDEX
UNSAFE = frozenset({LOCAL_UNSAFE})
AT_LEADER = frozenset({READINDEX, LEASE, LOG})  # answered by the leader only


def core_read_only(mode: str) -> str:
    """The Raft core's default read path for a node started with --read-mode `mode`."""
    return READ_LEASE if mode == LEASE else READ_SAFE


def served(requested: str | None, node_mode: str) -> str:
    """The mode a request gets: what it asked for (or the node's default); BadRequest otherwise."""
    mode = node_mode if requested is None else requested
    if mode not in READ_MODES:
        raise BadRequest(f"unknown read mode {mode!r}; one of {', '.join(READ_MODES)}")
    if mode in UNSAFE and node_mode != mode:
        raise BadRequest(f"read mode {mode} is UNSAFE and answered only by a node started with --read-mode {mode} "
                         f"(this one: {node_mode})")
    return mode
