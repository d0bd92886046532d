"""Disk faults beyond a clean power loss, in the FUSE layer: torn writes, bit flips, truncation.

Each kills a node, damages what its disk holds, and restarts it (at its stop),
so the damage is what the node finds when it recovers. Bit flips and truncations
hit one node per run (`damaged_node`): damage on a majority proves nothing. A
store that checksums must detect corrupted data and refuse to serve it (refusing
to start is a clean result); serving corrupted data, or losing an acknowledged
write, is a finding.
"""
from __future__ import annotations

from ..types import Corruptible, Killable, TornWrites
from .base import Context, FaultPackage, damaged_node, resolve
from .disk import COLOUR
from .process import restart


CORRUPT_COLOUR = "#9c6644"


def _damage(name: str, family: str, colour: str, start_f: str, requires, damage, offered_by=None,
            target=damaged_node) -> FaultPackage:
    def start(ctx: Context):
        node = target(ctx)
        ctx.backend.kill(node)
        ctx.killed.add(node)
        return {"nodes": [node], "down": [node], **damage(ctx, node)}

    return FaultPackage(name, family, colour, start_f, "restart", start, restart, (Killable, *requires),
                        offered_by=offered_by)


def packages() -> list[FaultPackage]:
    seed = lambda ctx: ctx.rng.randrange(2**31)  # noqa: E731 - drawn from the step's Random: the same on a rerun
    return [
        # by name only: `--nemesis power-loss` keeps the schedules its campaigns were measured with
        # a torn write is a crash a store must survive on every node: any node
        _damage("power-loss-torn", "power-loss", COLOUR, "torn-power-loss", (TornWrites,),
                lambda ctx, n: {"torn": ctx.backend.tear_unsynced(n, seed(ctx))}, offered_by=(),
                target=lambda ctx: resolve("one", ctx)[0]),
        _damage("bitflip-one", "corrupt", CORRUPT_COLOUR, "bitflip", (Corruptible,),
                lambda ctx, n: ctx.backend.corrupt(n, "bitflip", "*", seed(ctx))),
        _damage("truncate-one", "corrupt", CORRUPT_COLOUR, "truncate-file", (Corruptible,),
                lambda ctx, n: ctx.backend.corrupt(n, "truncate", "*", seed(ctx))),
    ]
