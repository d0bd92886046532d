"""Fault packages: small values built only on backend primitives.

A `FaultPackage` names a fault, says which capabilities it needs, and holds two
operations: `start(ctx) -> value` injects it and returns the resolved targets
(what goes into the history), `stop(ctx, value) -> value` undoes exactly that.
Packages compose as plain lists; the schedule picks among those the backend can run.
"""
from __future__ import annotations

import dataclasses
import random
from typing import Any, Callable, Mapping, Sequence

from ..types import Partitionable

Value = dict[str, Any]


class FaultUnavailable(RuntimeError):
    """The backend or the suite cannot do what this fault needs (never faked)."""


@dataclasses.dataclass
class Context:
    """What faults act on. Callbacks come from the suite and may be None.

    leader() -> node id or None; remove_member(node) / add_member(node) and
    transfer_leader(to) drive the system's admin API.
    """

    backend: Any
    rng: random.Random = dataclasses.field(default_factory=lambda: random.Random(0))
    leader: Callable[[], str | None] | None = None
    remove_member: Callable[[str], None] | None = None
    add_member: Callable[[str], None] | None = None
    transfer_leader: Callable[[str], None] | None = None
    # What is currently broken, so a final heal can undo it whatever happened.
    killed: set[str] = dataclasses.field(default_factory=set)
    paused: set[str] = dataclasses.field(default_factory=set)
    removed: set[str] = dataclasses.field(default_factory=set)
    clocks_touched: set[str] = dataclasses.field(default_factory=set)
    disks_filled: set[str] = dataclasses.field(default_factory=set)
    links_touched: bool = False

    @property
    def nodes(self) -> list[str]:
        return list(self.backend.nodes())


@dataclasses.dataclass(frozen=True)
class FaultPackage:
    name: str
    start_f: str
    stop_f: str
    start: Callable[[Context], Value]
    stop: Callable[[Context, Value], Value]
    requires: tuple[type, ...] = ()
    callbacks: tuple[str, ...] = ()  # Context callbacks it needs, e.g. ("leader",)

    def missing(self, ctx_or_backend: Any) -> list[str]:
        backend = getattr(ctx_or_backend, "backend", ctx_or_backend)
        out = [c.__name__ for c in self.requires if not isinstance(backend, c)]
        if isinstance(ctx_or_backend, Context):
            out += [cb for cb in self.callbacks if getattr(ctx_or_backend, cb) is None]
        return out

    def available(self, ctx_or_backend: Any) -> bool:
        return not self.missing(ctx_or_backend)


def compose(*groups: FaultPackage | Sequence[FaultPackage]) -> list[FaultPackage]:
    out: list[FaultPackage] = []
    for g in groups:
        out.extend([g] if isinstance(g, FaultPackage) else g)
    names = [p.name for p in out]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate fault packages: {names}")
    return out


# -- targets ----------------------------------------------------------------------------------

TARGETS = ("one", "minority", "majority", "all", "leader", "followers")


def resolve(targets: str | Sequence[str], ctx: Context) -> list[str]:
    """Names -> node ids. A leader that cannot be found resolves to no node."""
    nodes = sorted(ctx.nodes)
    if not isinstance(targets, str):
        unknown = set(targets) - set(nodes)
        if unknown:
            raise ValueError(f"unknown nodes {sorted(unknown)}")
        return list(targets)
    n = len(nodes)
    if targets == "one":
        return [ctx.rng.choice(nodes)]
    if targets == "minority":
        return sorted(ctx.rng.sample(nodes, (n - 1) // 2 or 1))
    if targets == "majority":
        return sorted(ctx.rng.sample(nodes, n // 2 + 1))
    if targets == "all":
        return nodes
    if targets in ("leader", "followers"):
        if ctx.leader is None:
            raise FaultUnavailable(f"targets {targets!r} need a leader() callback from the suite")
        lead = ctx.leader()
        if targets == "leader":
            return [lead] if lead in nodes else []
        return [x for x in nodes if x != lead]
    raise ValueError(f"unknown targets {targets!r} (one of {', '.join(TARGETS)} or a list of nodes)")


# -- grudges ----------------------------------------------------------------------------------

Grudge = Mapping[str, frozenset[str]]


def apply_grudge(backend: Partitionable, grudge: Grudge) -> None:
    """grudge[dst] = nodes whose traffic dst drops."""
    for dst, srcs in grudge.items():
        for src in srcs:
            backend.cut(src, dst)


def grudge_value(grudge: Grudge) -> dict[str, list[str]]:
    return {k: sorted(v) for k, v in sorted(grudge.items()) if v}
