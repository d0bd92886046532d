"""Majority arithmetic over a set of voters, kept apart so it can be checked alone."""
from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

PENDING, WON, LOST = 0, 1, 2


def majority(n: int) -> int:
    return n // 2 + 1


def committed_index(voters: Collection[int], value_of: Callable[[int], int]) -> int:
    """The largest value that at least a majority of voters has reached.

    With no voters nothing constrains the result; callers never ask then, but
    a huge number keeps `min` arithmetic right if they do.
    """
    n = len(voters)
    if n == 0:
        return 1 << 62
    vals = sorted([value_of(v) for v in voters], reverse=True)
    return vals[n // 2]


def vote_result(voters: Collection[int], votes: Mapping[int, bool]) -> int:
    granted = rejected = 0
    for v in voters:
        r = votes.get(v)
        if r is True:
            granted += 1
        elif r is False:
            rejected += 1
    q = majority(len(voters))
    if granted >= q:
        return WON
    if len(voters) - rejected < q:
        return LOST
    return PENDING
