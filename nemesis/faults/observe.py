"""What faults that wait for a condition see of the nodes: each node's status.

A fault aimed at a moment (a new leader, a snapshot just taken, a commit index
still behind) acts when the nodes report that moment, not after a fixed sleep:
the same fault then lands on a quiet machine as on a loaded one. The status
comes from the suite through `Context.status`, the system adapter's probe (the
reference KV reports role, term, leader, commit, applied, snapshot_index,
log_size); a fault that needs fields its system does not report is unavailable.
"""
from __future__ import annotations

import time
from typing import Callable, TypeVar

from .base import Context, FaultUnavailable

POLL_TIMEOUT = 0.2
POLL_PERIOD = 0.003

T = TypeVar("T")


def status(ctx: Context, node: str) -> dict | None:
    """node's status, or None while it does not answer (down, paused, cut from us)."""
    if ctx.status is None:
        raise FaultUnavailable("this fault needs the nodes' status from the suite")
    try:
        return ctx.status(node, POLL_TIMEOUT)
    except (OSError, ValueError):
        return None


def require(ctx: Context, node: str, *fields: str) -> dict:
    """node's status; FaultUnavailable when it does not report the fields the fault needs
    (another system: the fault is recorded as failed, never faked)."""
    st = status(ctx, node)
    if st is None or any(st.get(f) is None for f in fields):
        raise FaultUnavailable(f"needs the status fields {', '.join(fields)} from node {node}")
    return st


def wait_for(pred: Callable[[], T], timeout: float, period: float = POLL_PERIOD) -> T | None:
    """pred()'s first truthy value, polled until `timeout` seconds have passed; None then."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return None
        time.sleep(period)


def field(ctx: Context, node: str, name: str, default=0):
    return (status(ctx, node) or {}).get(name, default)


def leader_after(ctx: Context, nodes, term: int) -> tuple[str, dict] | None:
    """(node, status) of one of nodes that leads in a term after `term`, if any does now."""
    for n in nodes:
        s = status(ctx, n)
        if s and s.get("role") == "leader" and s.get("term", 0) > term:
            return n, s
    return None


def settled(ctx: Context, timeout: float) -> tuple[str, dict[str, dict]] | None:
    """(leader, every node's status) once every node answers and follows one leader in one term.

    A fault aimed at the leader's followers starts from there: right after an earlier fault a
    restarted node may still be booting (seconds on a loaded machine) and the leader then has
    no quorum to lose. FaultUnavailable if no node serves a status at all (another system).
    """
    if not any(status(ctx, n) for n in sorted(ctx.nodes)):
        raise FaultUnavailable("needs the nodes' status (role, term)")

    def look():
        sts = {n: status(ctx, n) for n in sorted(ctx.nodes)}
        if any(s is None for s in sts.values()):
            return None
        leaders = [n for n, s in sts.items() if s.get("role") == "leader"]
        if len(leaders) != 1 or len({s.get("term") for s in sts.values()}) != 1:
            return None
        if any(str(s.get("leader")) != leaders[0] for s in sts.values()):
            return None
        return leaders[0], sts

    return wait_for(look, timeout, period=0.02)


STEADY_TIMEOUT = 5.0


def steady_leader(ctx: Context, timeout: float = STEADY_TIMEOUT) -> str | None:
    """The leader of a settled cluster where the nodes report a status; ctx.leader() where they do
    not (the same fault then still runs on another system, aimed as well as the suite can)."""
    try:
        calm = settled(ctx, timeout)
    except FaultUnavailable:
        return ctx.leader()
    return calm[0] if calm else None
