"""Fault packages, one module per family. To add a fault: a module here, one line below."""
from __future__ import annotations

from . import (clock, cluster, disk, election_crash, leader_clock, leader_pause, network, partition, process,
               slow_leader, snapshot_race)
from .base import Context, FaultPackage, FaultUnavailable, Grudge, compose, resolve

ALL: list[FaultPackage] = compose(partition.PACKAGES, process.PACKAGES, clock.PACKAGES,
                                  network.PACKAGES, disk.PACKAGES, cluster.PACKAGES, leader_clock.PACKAGES,
                                  election_crash.PACKAGES, slow_leader.PACKAGES, leader_pause.PACKAGES,
                                  snapshot_race.PACKAGES)
BY_NAME: dict[str, FaultPackage] = {p.name: p for p in ALL}


def by_name(names) -> list[FaultPackage]:
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown faults {unknown}; known: {', '.join(BY_NAME)}")
    return [BY_NAME[n] for n in names]


def available(ctx_or_backend) -> list[FaultPackage]:
    return [p for p in ALL if p.available(ctx_or_backend)]


__all__ = ["ALL", "BY_NAME", "Context", "FaultPackage", "FaultUnavailable", "Grudge", "available",
           "by_name", "compose", "resolve"]
