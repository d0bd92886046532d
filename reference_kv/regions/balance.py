"""Leader balance: each store hands one of its Regions to the node leading the fewest.

Every store hosts every Region (they all have the same peers), so each one
sees who leads what from its own replicas; a store leading at least two more
Regions than some other node transfers one leadership per round to it. The
gap of two keeps a transfer from merely swapping which node is ahead.
"""
from __future__ import annotations


def pick_transfer(me: int, leaders: dict[int, int], nodes, busy=()) -> tuple[int, int] | None:
    """leaders: region id -> leader node id (0 = none known); -> (region id, to node) or None."""
    counts = {n: 0 for n in nodes}
    for leader in leaders.values():
        if leader in counts:
            counts[leader] += 1
    if me not in counts or not leaders or any(not lead for lead in leaders.values()):
        return None  # an election is under way somewhere: do not add churn
    to = min(sorted(counts), key=lambda n: counts[n])
    if counts[me] - counts[to] < 2:
        return None
    mine = sorted(rid for rid, lead in leaders.items() if lead == me and rid not in busy)
    return (mine[-1], to) if mine else None
