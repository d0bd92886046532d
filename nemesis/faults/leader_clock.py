"""The leader's clock runs slow while it is cut off: the fault that tests a lease's drift bound.

A leader lease is sound only while the leader's clock runs no slower than its
followers' by more than the drift the lease allows for: a slow leader still
believes its lease holds after the others have elected a new leader. Slowing a
random node (clock-rate) rarely hits the leader at the moment it loses its
followers; this package does both at once: the leader's clock runs at `rate`
times its followers' (every clock slowed to `pace`, which stretches the moments
that matter in real time), then the leader is isolated, and on stop the links
heal and the clocks run at real speed again.

The rate changes without a jump. libfaketime's "offset x rate" line maps real
time since the process started, E, to offset + E * rate, so changing only the
rate would move the node's clocks by E * (old - new) at once (seconds back in a
long run: a frozen ticker, not a slow one). The offset is moved by the same
amount the other way, from the node's start time in /proc. The clock is left
continuous at the end too (running at real speed, behind by what it lost), and
not marked for the final reset, whose jump forward would make a follower
campaign early.
"""
from __future__ import annotations

import os
import time

from ..types import ClockControl, Partitionable
from .base import Context, FaultPackage, FaultUnavailable, apply_grudge, grudge_value
from .clock import COLOUR
from .observe import STEADY_TIMEOUT, steady_leader
from .partition import isolate


def _seconds_since_start(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # since boot, like CLOCK_BOOTTIME
    return time.clock_gettime(time.CLOCK_BOOTTIME) - started


def set_rate(ctx: Context, node: str, rate: float) -> dict:
    """Run node's clock at `rate` from now on, continuing from the time it shows now."""
    pid_of = getattr(ctx.backend, "pid", None)
    pid = pid_of(node) if pid_of else None
    if pid is None:
        raise FaultUnavailable(f"a continuous clock change needs node {node}'s local process id")
    # The (pid, offset, rate) last written, for the next continuous change, kept for the run.
    key = ("clock-rate", node)
    # A restarted process maps time since its own start with the file's last line: the same formula.
    _, offset, old_rate = ctx.memo.get(key, (pid, 0.0, 1.0))
    elapsed = _seconds_since_start(pid)
    offset += elapsed * (old_rate - rate)
    ctx.backend.set_clock(node, offset, rate)
    ctx.memo[key] = (pid, offset, rate)
    return {"node": node, "rate": rate, "offset": round(offset, 3)}


def slow_leader_partition(rate: float = 0.5, pace: float = 0.5) -> FaultPackage:
    """The leader's clock at `rate` times its followers', every clock at `pace` times real speed.

    Only the ratio decides safety; slowing every clock stretches in real time what the
    ratio allows: the time between the followers' election and the end of an over-long
    lease, in which a write to the new leader and a read from the old one must both
    happen, grows by 1 / pace while the network and the clients keep their speed.
    """
    def start(ctx: Context):
        lead = steady_leader(ctx)  # not a node still booting after the last fault, nor a deposed leader
        if lead not in ctx.nodes:
            return {"nodes": [], "grudge": {}}
        clocks = {n: set_rate(ctx, n, pace * (rate if n == lead else 1.0)) for n in sorted(ctx.nodes)}
        grudge = isolate(lead, ctx.nodes)
        apply_grudge(ctx.backend, grudge)
        ctx.links_touched = True
        return {"nodes": [lead], "rate": rate, "pace": pace, "clocks": sorted(clocks),
                "offset": clocks[lead]["offset"], "grudge": grudge_value(grudge)}

    def stop(ctx: Context, value):
        ctx.backend.restore_all()
        for n in value.get("clocks", value["nodes"]):
            set_rate(ctx, n, 1.0)
        return {"nodes": value["nodes"], "healed": value.get("grudge", {})}

    return FaultPackage("clock-slow-leader", "clock", COLOUR, "start-slow-leader-partition", "heal-and-reset-clock",
                        start, stop, (ClockControl, Partitionable), needs=("leader",),
                        start_timeout=STEADY_TIMEOUT + 1.0, offered_by=())


def packages() -> list[FaultPackage]:
    return [slow_leader_partition()]
