"""When a Region leader compacts its group's log (the apply is commands.LOG_GC).

Every `snapshot_every` applied entries, up to the lowest index every voter holds; past a voter
that lags by `snapshot_every` or more (or is down), up to the leader's applied index: that voter
gets a Region snapshot instead of holding the log.
"""
from __future__ import annotations

import asyncio

from reference_kv.raft.types import Role
from reference_kv.regions.commands import LOG_GC


def upto(applied: int, compacted: int, voter_matches: list[int], every: int) -> int | None:
    """The index to compact to, or None: not worth it yet."""
    if not voter_matches or applied - compacted < every:
        return None
    target = min(min(voter_matches), applied)
    if applied - target >= every:
        target = applied  # a voter that far behind (or down) gets a snapshot instead of holding the log
    return target if target - compacted >= max(1, every // 2) else None


def maybe_compact(p, every: int) -> None:
    if p.merging is not None or p.role != Role.LEADER or p.applied <= p.compacted:
        return
    progress = p.raw.status().get("progress") or {}
    target = upto(p.applied, p.compacted, [pr["match"] for pr in progress.values() if not pr.get("learner")], every)
    if target is None:
        return
    key = p.region.start if p.region is not None else ""  # a key the Region owns, so it applies
    task = asyncio.get_running_loop().create_task(p.command(LOG_GC, key, target, None, None))
    task.add_done_callback(lambda t: t.cancelled() or t.exception())  # best effort; retried next round
