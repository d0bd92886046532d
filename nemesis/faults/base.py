"""Fault packages: whole values, built only on backend primitives (Jepsen's nemesis/combined.clj).

A `FaultPackage` is everything the suite knows of one fault: its name, its
family (what `--nemesis FAMILY` offers it under, and its colour in the plots),
what it requires (backend capabilities, whose options derive from them, and
what it needs of the suite through the `Context`), how long its start may
block, and two operations: `start(ctx) -> value` injects it and returns the
resolved targets (what goes into the history), `stop(ctx, value) -> value`
undoes exactly that. Packages compose as plain lists; the schedule picks among
those the backend can run.
"""
from __future__ import annotations

import dataclasses
import random
import threading
from typing import Any, Callable, Mapping, Sequence

from ..types import LINK_CAPABILITIES, ClockControl, DiskFull, Partitionable

Value = dict[str, Any]


class FaultUnavailable(RuntimeError):
    """The backend or the suite cannot do what this fault needs (never faked)."""


@dataclasses.dataclass
class Context:
    """What faults act on, for one run. Callbacks come from the suite and may be None.

    leader() -> node id or None; status(node, timeout) -> the node's view of the
    cluster (role, term, leader, and what else its system reports: commit,
    applied, snapshot_index, log_size for the reference KV) or None while it does
    not answer, from the system adapter's probe; remove_member(node) /
    add_member(node) and transfer_leader(to) drive the system's admin API.
    """

    backend: Any
    rng: random.Random = dataclasses.field(default_factory=lambda: random.Random(0))
    leader: Callable[[], str | None] | None = None
    status: Callable[[str, float], dict | None] | None = None
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
    # Work a fault left running (a clock strobe's thread), key -> how to stop it: at its stop or the final heal.
    running: dict[Any, Callable[[], None]] = dataclasses.field(default_factory=dict)
    # What a fault learns once in a run and uses again (a clock's last rate, the leader's snapshot interval).
    memo: dict[Any, Any] = dataclasses.field(default_factory=dict)

    @property
    def nodes(self) -> list[str]:
        return list(self.backend.nodes())

    def stop_running(self) -> list[str]:
        """Stop whatever faults left running; -> their keys."""
        keys = [str(k) for k in self.running]
        for key in list(self.running):
            halt = self.running.pop(key, None)  # a lane may have stopped it meanwhile
            if halt is not None:
                halt()
        return keys


def keep_running(ctx: Context, name: str, loop: Callable[[threading.Event], None]) -> str:
    """Run `loop(done)` in a thread until its fault's stop or the final heal sets `done`; -> its key in
    ctx.running, for the start's value (a clock strobe, a kill storm)."""
    done = threading.Event()
    t = threading.Thread(target=loop, args=(done,), name=name, daemon=True)
    key = f"{name}-{len(ctx.running)}-{id(t)}"

    def halt():
        done.set()
        t.join(10)

    ctx.running[key] = halt
    t.start()
    return key


def stop_running(ctx: Context, key: str) -> None:
    """Stop what `keep_running` started under `key` (already stopped by a final heal: nothing to do)."""
    halt = ctx.running.pop(key, None)
    if halt is not None:
        halt()


# What a fault may need of the suite, beyond the backend: the Context field that provides it.
NEEDS = ("leader", "status", "remove_member", "add_member", "transfer_leader")
# The streams of a combined schedule (FaultPackage.lane).
LANES = ("links", "nodes", "clock", "disk", "membership")


@dataclasses.dataclass(frozen=True)
class FaultPackage:
    name: str
    family: str  # `--nemesis FAMILY` offers it (see `offered_by`); also what it is drawn as
    colour: str  # its shade in the report's plots
    start_f: str  # the history's `f` of its start and its stop events
    stop_f: str
    start: Callable[[Context], Value]
    stop: Callable[[Context, Value], Value]
    requires: tuple[type, ...] = ()  # backend capabilities (nemesis.types); backend options derive from them
    needs: tuple[str, ...] = ()  # Context fields it calls (NEEDS), e.g. ("leader",)
    start_timeout: float = 5.0  # the longest its start may block, seconds (it waits for the cluster)
    # The `--nemesis` names that pick it besides its own: None = its family; () = only its name.
    offered_by: tuple[str, ...] | None = None
    # Which stream of a combined schedule it runs in (LANES; None: from what it requires and needs).
    # Faults of one lane never overlap, faults of different lanes do (Jepsen's combined nemesis: a
    # partition while a node is killed while a clock is off).
    lane_name: str | None = None

    def __post_init__(self):
        unknown = set(self.needs) - set(NEEDS)
        if unknown:
            raise ValueError(f"fault {self.name}: unknown needs {sorted(unknown)} (one of {', '.join(NEEDS)})")
        if self.lane_name is not None and self.lane_name not in LANES:
            raise ValueError(f"fault {self.name}: unknown lane {self.lane_name!r} (one of {', '.join(LANES)})")

    @property
    def lane(self) -> str:
        """Its stream in a combined schedule: links, clock, disk, membership or nodes (the rest: what
        stops, kills, pauses or damages a node, so two of them never race on one node)."""
        if self.lane_name is not None:
            return self.lane_name
        if self.acts_on_links:
            return "links"
        if ClockControl in self.requires:
            return "clock"
        if DiskFull in self.requires:
            return "disk"
        if set(self.needs) & {"remove_member", "add_member", "transfer_leader"}:
            return "membership"
        return "nodes"

    @property
    def acts_on_links(self) -> bool:
        return any(c in LINK_CAPABILITIES for c in self.requires)

    @property
    def groups(self) -> tuple[str, ...]:
        """The `--nemesis` names that pick this package, its own name aside."""
        return (self.family,) if self.offered_by is None else self.offered_by

    def missing(self, ctx_or_backend: Any) -> list[str]:
        backend = getattr(ctx_or_backend, "backend", ctx_or_backend)
        out = [c.__name__ for c in self.requires if not isinstance(backend, c)]
        if isinstance(ctx_or_backend, Context):
            out += [need for need in self.needs if getattr(ctx_or_backend, need) is None]
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


def target_needs(targets: str | Sequence[str]) -> tuple[str, ...]:
    """What resolving `targets` needs of the suite: leader() for the leader or its followers."""
    return ("leader",) if targets in ("leader", "followers") else ()


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


DAMAGED = "damaged-node"  # ctx.memo key: the node whose data this run damages


def damaged_node(ctx: Context) -> str:
    """The node whose data a damaging fault (a wipe, a bit flip, a truncation) hits: drawn once, then the same
    every time in the run, so damage stays on a minority. Damage to a majority loses data no system can get
    back, which proves nothing about it."""
    node = ctx.memo.get(DAMAGED)
    if node not in ctx.nodes:
        node = ctx.memo[DAMAGED] = ctx.rng.choice(sorted(ctx.nodes))
    return node


# -- grudges ----------------------------------------------------------------------------------

Grudge = Mapping[str, frozenset[str]]


def apply_grudge(backend: Partitionable, grudge: Grudge) -> None:
    """grudge[dst] = nodes whose traffic dst drops."""
    for dst, srcs in grudge.items():
        for src in srcs:
            backend.cut(src, dst)


def grudge_value(grudge: Grudge) -> dict[str, list[str]]:
    return {k: sorted(v) for k, v in sorted(grudge.items()) if v}
