"""Cluster faults through the system's admin API (callbacks the suite supplies)."""
from __future__ import annotations

from .base import Context, FaultPackage, resolve


def membership(targets: str = "one") -> FaultPackage:
    """Remove a member, then add it back."""
    def start(ctx: Context):
        nodes = resolve(targets, ctx)[:1]
        for n in nodes:
            ctx.remove_member(n)
            ctx.removed.add(n)
        return {"nodes": nodes}

    def stop(ctx: Context, value):
        for n in value["nodes"]:
            ctx.add_member(n)
            ctx.removed.discard(n)
        return {"nodes": value["nodes"]}

    return FaultPackage("membership", "membership", "#90e0ef", "remove-member", "add-member", start, stop,
                        needs=("remove_member", "add_member"),
                        # a change waits for a leader across cuts; adding back may restart and catch up a node
                        start_timeout=25.0)


def transfer_leader() -> FaultPackage:
    def start(ctx: Context):
        lead = ctx.leader()
        others = sorted(n for n in ctx.nodes if n != lead)
        to = ctx.rng.choice(others) if others else None
        if to is not None:
            ctx.transfer_leader(to)
        return {"from": lead, "to": to}

    def stop(ctx: Context, value):
        return {}

    return FaultPackage("leader-transfer", "transfer", "#ffafcc", "transfer-leader", "transfer-leader-done", start,
                        stop, needs=("leader", "transfer_leader"))


def packages() -> list[FaultPackage]:
    return [membership(), transfer_leader()]
