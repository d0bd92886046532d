"""Graceful stop: nodes shut down cleanly (SIGTERM, as an operator or a rolling update does), then started.

Unlike kill, a node may finish what it was doing, close its files and, where its
system does so, hand leadership on. A store must lose nothing it acknowledged
either way; this exercises the shutdown path that kill skips. Every backend can
stop a node (it is how a run ends), so the fault needs no capability.
"""
from __future__ import annotations

from .base import Context, FaultPackage, resolve, target_needs
from .process import restart

STOP_TIMEOUT = 10.0  # seconds a node has to exit before the backend kills it


def stop(targets: str = "one") -> FaultPackage:
    def start(ctx: Context):
        nodes = resolve(targets, ctx)
        for n in nodes:
            ctx.backend.stop(n, STOP_TIMEOUT)
            ctx.killed.add(n)
        return {"targets": targets, "nodes": nodes, "down": nodes}

    return FaultPackage(f"stop-{targets}", "stop", "#9d8189", "stop", "restart", start, restart,
                        needs=target_needs(targets), start_timeout=STOP_TIMEOUT + 1.0)


def packages() -> list[FaultPackage]:
    return [stop("one"), stop("leader")]
