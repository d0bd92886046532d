"""Process faults: kill (SIGKILL) then restart, pause (SIGSTOP) then resume."""
from __future__ import annotations

from ..types import Killable, Pausable
from .base import Context, FaultPackage, resolve


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
        return {"targets": targets, "nodes": nodes}

    cbs = ("leader",) if targets in ("leader", "followers") else ()
    return FaultPackage(f"kill-{targets}", "kill", "restart", start, restart, (Killable,), cbs)


def pause(targets: str = "one") -> FaultPackage:
    def start(ctx: Context):
        nodes = resolve(targets, ctx)
        for n in nodes:
            ctx.backend.pause(n)
            ctx.paused.add(n)
        return {"targets": targets, "nodes": nodes}

    def stop(ctx: Context, value):
        for n in value["nodes"]:
            ctx.backend.resume(n)
            ctx.paused.discard(n)
        return {"nodes": value["nodes"]}

    cbs = ("leader",) if targets in ("leader", "followers") else ()
    return FaultPackage(f"pause-{targets}", "pause", "resume", start, stop, (Pausable,), cbs)


PACKAGES = [kill(t) for t in ("one", "minority", "leader", "all")] + \
           [pause(t) for t in ("one", "minority", "leader")]
