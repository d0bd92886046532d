"""The leader is cut off and stopped, then resumed while still cut off: the fault that tests
that a lease is measured in real time.

A leader that was stopped (SIGSTOP, a stalled VM, a long GC) for longer than its
lease must wake up knowing the lease is gone, even before its own timers run:
clients' reads that waited in its socket are the first thing it handles. While
it was stopped the others elected a new leader and took writes; it stays cut
off for `after` seconds once resumed, so nothing but its own clock can tell it.
"""
from __future__ import annotations

import time

from ..types import Partitionable, Pausable
from .base import Context, FaultPackage, apply_grudge, grudge_value
from .observe import STEADY_TIMEOUT, steady_leader
from .partition import isolate
from .process import PAUSE_COLOUR


def pause_isolated_leader(after: float = 0.3) -> FaultPackage:
    def start(ctx: Context):
        lead = steady_leader(ctx)  # not a node still booting after the last fault, nor a deposed leader
        if lead not in ctx.nodes:
            return {"nodes": [], "grudge": {}}
        grudge = isolate(lead, ctx.nodes)
        apply_grudge(ctx.backend, grudge)
        ctx.links_touched = True
        ctx.backend.pause(lead)
        ctx.paused.add(lead)
        return {"nodes": [lead], "down": [lead], "grudge": grudge_value(grudge)}

    def stop(ctx: Context, value):
        for n in value["nodes"]:
            ctx.backend.resume(n)
            ctx.paused.discard(n)
        if value["nodes"]:
            time.sleep(after)
        ctx.backend.restore_all()
        return {"nodes": value["nodes"], "healed": value["grudge"]}

    return FaultPackage("pause-isolated-leader", "pause", PAUSE_COLOUR, "pause", "resume-and-heal", start, stop,
                        (Pausable, Partitionable), needs=("leader",), start_timeout=STEADY_TIMEOUT + 1.0,
                        offered_by=())


def packages() -> list[FaultPackage]:
    return [pause_isolated_leader()]
