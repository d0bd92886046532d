"""When no quorum was possible, from the nemesis events alone (pure).

A fault's start event says what it broke: `grudge` (node -> the nodes whose
traffic it drops, as every partition writes it) and `down` (the nodes it keeps
stopped until its stop: killed, paused, powered off). The fault's
stop event undoes exactly that; the final heal (a stop of no one fault) undoes
everything.

A quorum is possible while some node that is up exchanges messages both ways
with enough other up nodes to make a majority of the cluster with itself: what
a leader needs to be elected and to commit (its followers need not hear each
other). A 3-node majorities ring is a one-way ring: no two nodes hear each
other both ways, so no leader can be elected until the heal, and an election
cannot be measured from before that.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Protocol, Sequence

Link = tuple[str, str]  # (source, destination) whose traffic is dropped


class Event(Protocol):
    time: int
    f: str
    value: object
    fault: str | None
    phase: str | None


def cut_links(grudge: Mapping[str, Iterable[str]]) -> frozenset[Link]:
    """grudge[dst] = sources dst drops -> the one-way links that carry nothing."""
    return frozenset((str(src), str(dst)) for dst, srcs in grudge.items() for src in srcs)


def quorum_possible(nodes: Sequence[str], cut: frozenset[Link] | set[Link] = frozenset(),
                    down: frozenset[str] | set[str] = frozenset()) -> bool:
    """Some up node talks both ways with enough up nodes to form a majority of `nodes` with itself."""
    need = len(nodes) // 2 + 1
    up = [n for n in nodes if n not in down]
    for a in up:
        both_ways = sum(1 for b in up if b != a and (a, b) not in cut and (b, a) not in cut)
        if 1 + both_ways >= need:
            return True
    return False


def _broken(ev: Event) -> tuple[frozenset[Link], frozenset[str]]:
    value = ev.value if isinstance(ev.value, dict) else {}
    grudge = value.get("grudge")
    cut = cut_links(grudge) if isinstance(grudge, dict) else frozenset()
    nodes = value.get("down")
    down = frozenset(str(n) for n in nodes) if isinstance(nodes, list) else frozenset()
    return cut, down


def no_quorum_intervals(events: Iterable[Event], nodes: Sequence[str], end: int | None = None) -> list[dict]:
    """Intervals [start, end) in ns when no quorum was possible, each with the faults active in it.

    `nodes` are the cluster's members (ids as the faults name them); nodes a
    grudge names that are not among them are added. An interval still open at
    the last event ends at `end` (default: that event's time).
    """
    members = [str(n) for n in nodes]
    active: dict[str, tuple[frozenset[Link], frozenset[str]]] = {}
    out: list[dict] = []
    current: dict | None = None
    last = None
    for ev in sorted(events, key=lambda e: e.time):
        last = ev.time
        if ev.phase == "start" and ev.fault:
            active[ev.fault] = _broken(ev)
        elif ev.phase == "stop" and ev.fault:
            active.pop(ev.fault, None)
        elif ev.phase == "stop":
            active.clear()
        else:
            continue
        cut = frozenset().union(*(c for c, _ in active.values()))
        down = frozenset().union(*(d for _, d in active.values()))
        members += sorted({n for link in cut for n in link} - set(members))
        if not quorum_possible(members, cut, down):
            if current is None:
                current = {"start": ev.time, "end": None, "faults": []}
                out.append(current)
            current["faults"] += [f for f in active if f not in current["faults"]]
        elif current is not None:
            current["end"] = ev.time
            current = None
    if current is not None:
        current["end"] = max(end if end is not None else last, current["start"])
    return out
