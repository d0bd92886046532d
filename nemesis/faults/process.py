"""Process faults: kill (SIGKILL) then restart, pause (SIGSTOP) then resume.

A fault that keeps nodes stopped until its own stop says so in its start's value
(`down`), so what it broke can be read from the history alone (splitbrain.quorum).
"""
from __future__ import annotations

import random

from ..types import Killable, Pausable
from .base import Context, FaultPackage, keep_running, resolve, stop_running, target_needs

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


def kill_storm(low: float = 0.02, high: float = 0.3) -> FaultPackage:
    """One node SIGKILLed again and again, each time `low`..`high` seconds after its restart: the crash
    windows of recovery, log replay and snapshot install, which a kill of a node that has settled misses."""
    def start(ctx: Context):
        [node] = resolve("one", ctx)
        rng = random.Random(ctx.rng.random())  # its own: the storm's thread outlives the step that drew it
        kills = [0]

        def storm(done):
            while not done.is_set():
                ctx.backend.start(node)
                if done.wait(rng.uniform(low, high)):
                    return
                ctx.backend.kill(node)
                kills[0] += 1

        kill_nodes(ctx, [node])
        key = keep_running(ctx, "kill-storm", storm)
        ctx.memo[("kills", key)] = kills
        return {"nodes": [node], "down": [node], "storm": key}

    def stop(ctx: Context, value):
        stop_running(ctx, value["storm"])
        restart(ctx, value)
        return {"nodes": value["nodes"], "kills": 1 + ctx.memo.pop(("kills", value["storm"]), [0])[0]}

    # not one of the kill family's draws (campaigns that name `kill` keep their schedules): by its name
    return FaultPackage("kill-storm", "kill", KILL_COLOUR, "kill-storm", "restart", start, stop, (Killable,),
                        offered_by=())


def packages() -> list[FaultPackage]:
    return ([kill(t) for t in ("one", "minority", "leader", "all")] + [kill_storm()] +
            [pause(t) for t in ("one", "minority", "leader")])
