"""Fault packages, one module per family of faults.

To add a fault: its module here (a `packages()` function returning its
FaultPackage values), and its name in MODULES. Everything else asks the
catalogue: `--nemesis` names and families, the backend options its capabilities
need, its colour in the report.
"""
from __future__ import annotations

import importlib

from .base import Context, FaultPackage, FaultUnavailable, Grudge, compose, resolve

MODULES = (
    "partition",
    "process",
    "clock",
    "network",
    "disk",
    "cluster",
    "leader_clock",
    "election_crash",
    "slow_leader",
    "leader_pause",
    "snapshot_race",
    "graceful",
    "wipe",
    "corrupt",
)


def catalogue() -> list[FaultPackage]:
    """Every fault package, made anew on each call (a package holds no state: a run's is in its Context)."""
    return compose(*(importlib.import_module(f"{__name__}.{m}").packages() for m in MODULES))


def by_name(names) -> list[FaultPackage]:
    known = {p.name: p for p in catalogue()}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown faults {unknown}; known: {', '.join(known)}")
    return [known[n] for n in names]


def get(name: str) -> FaultPackage:
    return by_name([name])[0]


def available(ctx_or_backend) -> list[FaultPackage]:
    return [p for p in catalogue() if p.available(ctx_or_backend)]


__all__ = ["MODULES", "Context", "FaultPackage", "FaultUnavailable", "Grudge", "available", "by_name",
           "catalogue", "compose", "get", "resolve"]
