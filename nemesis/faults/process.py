"""Process faults: kill (SIGKILL) then restart, pause (SIGSTOP) then resume.

A fault that keeps nodes stopped until its own stop says so in its start's value
(`down`), so what it broke can be read from the history alone (splitbrain.quorum).
"""
from __future__ import annotations

from ..types import Killable, Pausable
from .base import Context, FaultPackage, resolve, target_needs

KILL_COLOUR = "#e76f51"
PAUSE_COLOUR = "#a8dadc"


def kill_nodes(ctx: Context, nodes, then=None) -> None:
    """SIGKILL each node (then `then(node)` while it is down), remembered for the final heal."""
    for n in nodes:
        ctx.backend.kill(n)
        ctx.killed.add(n)
        if then is not None:
            then(n)


def restart(ctx: Context, value):
    for n in value["nodes"]:
        ctx.backend.start(n)
        ctx.killed.discard(n)
    return {"nodes": value["nodes"]}


def kill(targets: str = "one") -> FaultPackage:
    def start(ctx: Context):
        nodes = resolve(targets, ctx)
        kill_nodes(ctx, nodes)
        return {"targets": targets, "nodes": nodes, "down": nodes}

    # every node down at once is no failover to test in a mixed nemesis: by its name only
    return FaultPackage(f"kill-{targets}", "kill", KILL_COLOUR, "kill", "restart", start, restart, (Killable,),
                        needs=target_needs(targets), offered_by=() if targets == "all" else None)


def pause(targets: str = "one") -> FaultPackage:
    def start(ctx: Context):
        nodes = resolve(targets, ctx)
        for n in nodes:
            ctx.backend.pause(n)
            ctx.paused.add(n)
        return {"targets": targets, "nodes": nodes, "down": nodes}

    def stop(ctx: Context, value):
        for n in value["nodes"]:
            ctx.backend.resume(n)
            ctx.paused.discard(n)
        return {"nodes": value["nodes"]}

    return FaultPackage(f"pause-{targets}", "pause", PAUSE_COLOUR, "pause", "resume", start, stop, (Pausable,),
                        needs=target_needs(targets))


def packages() -> list[FaultPackage]:
    return [kill(t) for t in ("one", "minority", "leader", "all")] + [pause(t) for t in ("one", "minority", "leader")]
