"""A node loses its data: killed, its data directory deleted, restarted with the same identity and flags.

What a system should do is its own: refuse the member that lost its data (the
reference KV does: such a member must never vote as itself again, see
reference_kv/identity.py), or take it back as a new replica. Either is a clean
result; the start's value says which (`refused`: the nodes that exited within
REFUSAL_WAIT of their restart). An acknowledged write that goes missing is
the finding, and the checker's to see. At its stop, a refused node is taken
back by its system's procedure when the suite knows one (a system file's
[membership] remove and add commands, or the reference KV's adapter, which
restarts the node empty with --join: remove, add, restart), else it stays out
for the rest of the run.
"""
from __future__ import annotations

import time

from ..types import Killable, Wipeable
from .base import Context, FaultPackage, damaged_node
from .process import kill_nodes

COLOUR = "#6d597a"
REFUSAL_WAIT = 3.0  # seconds a restarted node has to exit if its system refuses a member that lost its data


def _restart(ctx: Context, nodes) -> list[str]:
    """Start the nodes; -> those that exited within REFUSAL_WAIT (their system refused them)."""
    for n in nodes:
        ctx.backend.start(n)
        ctx.killed.discard(n)
    deadline = time.monotonic() + REFUSAL_WAIT
    while time.monotonic() < deadline and all(ctx.backend.is_running(n) for n in nodes):
        time.sleep(0.1)
    return [n for n in nodes if not ctx.backend.is_running(n)]


def wipe() -> FaultPackage:
    def start(ctx: Context):
        nodes = [damaged_node(ctx)]  # one node per run: a majority wiped has lost the data for good
        kill_nodes(ctx, nodes, then=ctx.backend.wipe)
        refused = _restart(ctx, nodes)
        return {"nodes": nodes, "refused": refused, "down": refused}

    def stop(ctx: Context, value):
        refused = value["refused"]
        if not refused:
            return {"nodes": value["nodes"], "refused": []}
        if ctx.remove_member is None or ctx.add_member is None:
            # no way back the suite knows of: it refuses again and stays out
            return {"nodes": value["nodes"], "refused": _restart(ctx, refused)}
        # the system's own way back for a member that lost its data (a system file's [membership]
        # commands): out of the configuration, then in again, then started
        for n in refused:
            ctx.remove_member(n)
            ctx.add_member(n)
        return {"nodes": value["nodes"], "procedure": "remove, add, restart", "refused": _restart(ctx, refused)}

    return FaultPackage("wipe-one", "wipe", COLOUR, "wipe", "wiped-back", start, stop,
                        (Killable, Wipeable), start_timeout=REFUSAL_WAIT + 10.0)


def packages() -> list[FaultPackage]:
    return [wipe()]
