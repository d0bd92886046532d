"""Partitions as grudges: pure functions node list -> grudge, and their packages."""
from __future__ import annotations

import random
from typing import Callable, Sequence

from ..types import Partitionable
from .base import Context, FaultPackage, Grudge, apply_grudge, grudge_value

COLOUR = "#f4a261"


def complete(groups: Sequence[Sequence[str]]) -> Grudge:
    """Every node drops traffic from every node outside its own group."""
    out: dict[str, frozenset[str]] = {}
    everyone = {n for g in groups for n in g}
    for g in groups:
        for n in g:
            out[n] = frozenset(everyone - set(g))
    return out


def halves(nodes: Sequence[str]) -> Grudge:
    nodes = sorted(nodes)
    k = len(nodes) // 2
    return complete([nodes[:k], nodes[k:]])


def random_halves(nodes: Sequence[str], rng: random.Random) -> Grudge:
    nodes = list(nodes)
    rng.shuffle(nodes)
    k = len(nodes) // 2
    return complete([nodes[:k], nodes[k:]])


def isolate(node: str, nodes: Sequence[str]) -> Grudge:
    return complete([[node], [n for n in nodes if n != node]])


def bridge(nodes: Sequence[str], rng: random.Random | None = None) -> Grudge:
    """Two halves that both still reach one bridge node (Jepsen's bridge)."""
    nodes = list(nodes)
    if rng is not None:
        rng.shuffle(nodes)
    k = len(nodes) // 2
    a, b, mid = nodes[:k], nodes[k + 1:], nodes[k]
    g = complete([a, b])
    return {n: frozenset(g.get(n, frozenset()) - {mid}) for n in nodes} | {mid: frozenset()}


def majorities_ring(nodes: Sequence[str], rng: random.Random | None = None) -> Grudge:
    """Each node sees a majority centred on itself in a ring; no two see the same one."""
    nodes = list(nodes)
    if rng is not None:
        rng.shuffle(nodes)
    n = len(nodes)
    m = n // 2 + 1
    out = {}
    for i, node in enumerate(nodes):
        visible = {nodes[(i + d) % n] for d in range(-(m // 2), m - m // 2)}
        out[node] = frozenset(set(nodes) - visible)
    # With an odd window (n = 5, 7, ...) this is symmetric; for n = 3 no symmetric
    # version exists and it is a one-way ring, as in Jepsen.
    return out


def one_way(src: str, nodes: Sequence[str]) -> Grudge:
    """Everyone drops src's traffic; src still hears everyone."""
    return {n: frozenset({src}) for n in nodes if n != src}


def _package(name: str, make: Callable[[Context], Grudge], needs: tuple[str, ...] = ()) -> FaultPackage:
    def start(ctx: Context):
        g = make(ctx)
        apply_grudge(ctx.backend, g)
        ctx.links_touched = True
        return {"grudge": grudge_value(g)}

    def stop(ctx: Context, value):
        ctx.backend.restore_all()
        return {"healed": value.get("grudge", {})}

    return FaultPackage(name, "partition", COLOUR, "start-partition", "heal", start, stop, (Partitionable,),
                        needs=needs)


def _leader_isolation(ctx: Context) -> Grudge:
    lead = ctx.leader()
    if lead not in ctx.nodes:
        return {}
    return isolate(lead, ctx.nodes)


def packages() -> list[FaultPackage]:
    return [
        _package("partition-halves", lambda ctx: halves(ctx.nodes)),
        _package("partition-random-halves", lambda ctx: random_halves(ctx.nodes, ctx.rng)),
        _package("partition-one", lambda ctx: isolate(ctx.rng.choice(sorted(ctx.nodes)), ctx.nodes)),
        _package("partition-leader", _leader_isolation, needs=("leader",)),
        _package("partition-majorities-ring", lambda ctx: majorities_ring(sorted(ctx.nodes), ctx.rng)),
        _package("partition-bridge", lambda ctx: bridge(sorted(ctx.nodes), ctx.rng)),
        _package("partition-one-way", lambda ctx: one_way(ctx.rng.choice(sorted(ctx.nodes)), ctx.nodes)),
    ]
