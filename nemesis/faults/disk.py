"""Disk faults: power loss (kill, drop every unsynced write, restart) and a full disk."""
from __future__ import annotations

from ..types import DiskFull, Killable, PowerLoss
from .base import Context, FaultPackage, resolve
from .process import kill_nodes, restart

COLOUR = "#bc6c25"


def power_loss(targets: str = "one") -> FaultPackage:
    def start(ctx: Context):
        nodes = resolve(targets, ctx)
        kill_nodes(ctx, nodes, then=ctx.backend.drop_unsynced)
        return {"targets": targets, "nodes": nodes, "down": nodes}

    # One node losing its unsynced writes is a disk fault as much as a power cut: `--nemesis disk` offers it too.
    return FaultPackage(f"power-loss-{targets}", "power-loss", COLOUR, "power-loss", "restart", start, restart,
                        (Killable, PowerLoss), offered_by=("power-loss", "disk") if targets == "one" else None)


def disk_full(targets: str = "one") -> FaultPackage:
    def start(ctx: Context):
        nodes = resolve(targets, ctx)
        for n in nodes:
            ctx.backend.fill_disk(n)
            ctx.disks_filled.add(n)
        return {"nodes": nodes}

    def stop(ctx: Context, value):
        for n in value["nodes"]:
            ctx.backend.free_disk(n)
            ctx.disks_filled.discard(n)
        return {"nodes": value["nodes"]}

    return FaultPackage("disk-full", "disk", COLOUR, "fill-disk", "free-disk", start, stop, (DiskFull,))


def packages() -> list[FaultPackage]:
    return [power_loss("one"), power_loss("all"), disk_full()]
