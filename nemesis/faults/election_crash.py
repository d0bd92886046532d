"""A voter crashes right after it votes: the fault that tests that votes are durable.

Raft's election safety needs a node's vote to survive a crash: a node that
voted for A in term t, restarted and asked by B in the same term t must refuse.
That is only tested when a voter restarts after voting and before it learns
the winner's first entry (after that, the log check refuses B anyway), a
window of one round trip that random kills almost never hit. This package
makes the moment happen on purpose:

1. the leader L is cut off, so it stays in its term (PreVote) and the two
   others elect a new leader among themselves, over links slowed by `delay`,
   so that each vote round trip lasts long enough to be seen;
2. the nodes' status is polled; once the other node has taken the term of the
   one seen campaigning (its vote request arrived), the candidate's link to it
   is slowed much more, and once it leads (so the vote reached it) the voter is
   killed before the winner's first entry arrives, and restarted; the winner is
   cut off and L's links to the voter heal;
3. L then campaigns in the very term the voter voted in. A voter that kept its
   vote refuses; one that lost it elects L, a second leader in that term, which
   the suite's leaders-per-term check reports. The fault returns (and may be
   healed) only once the voter answers again and L has led or moved past that
   term: a restart takes seconds on a loaded machine.

Needs each node's status (role, term) from the suite (`Context.status`), as
the reference KV reports it; elsewhere the fault is unavailable.
"""
from __future__ import annotations

import time

from ..types import Delayable, Killable, Partitionable
from .base import Context, FaultPackage, apply_grudge, grudge_value
from .observe import STEADY_TIMEOUT, require, steady_leader, wait_for
from .observe import status as _status
from .partition import isolate
from .process import KILL_COLOUR


def _await_winner(ctx: Context, nodes: list[str], term: int, delays: dict, hold: float,
                  deadline: float) -> str | None:
    """The first of nodes to lead in a term after `term`.

    Once a candidate's vote request is seen to have reached the other node
    (it moved to the candidate's term), the candidate's link to it is slowed to
    `hold`: its first entry as leader then reaches the voter only `hold`
    seconds after it won. Not before: the node sends its vote requests only once
    its new term is on disk, so slowing the link at the first sight of a
    candidate held its requests back too and the two split their votes until
    the fault gave up. A candidate of a later term (a split vote) takes the hold
    over.
    """
    held: tuple[str, int] | None = None
    seen: tuple[str, int] | None = None
    while time.monotonic() < deadline:
        sts = {n: _status(ctx, n) for n in nodes}
        for n, s in sts.items():
            if not s or s.get("term", 0) <= term:
                continue
            if s.get("role") == "leader":
                return n
            if s.get("role") == "candidate" and (seen is None or s["term"] > seen[1]):
                seen = (n, s["term"])
        if seen is not None and (held is None or seen[1] > held[1]):
            other = next(x for x in nodes if x != seen[0])
            if (sts.get(other) or {}).get("term", 0) >= seen[1]:
                if held is not None and held[0] != seen[0]:  # the other one campaigns now: release its link
                    ctx.backend.set_delay(held[0], seen[0], delays.get((held[0], seen[0]), 0.0))
                held = seen
                ctx.backend.set_delay(seen[0], other, hold)
        time.sleep(0.002)
    return None


def kill_voter(delay: float = 0.04, hold: float = 1.0, late: float = 0.15, wait: float = 4.0) -> FaultPackage:
    def start(ctx: Context):
        lead = steady_leader(ctx)
        nodes = sorted(ctx.nodes)
        if lead not in nodes or len(nodes) != 3:
            return {"nodes": [], "grudge": {}}
        st = require(ctx, lead, "term")
        others = [n for n in nodes if n != lead]
        grudge = isolate(lead, nodes)
        apply_grudge(ctx.backend, grudge)
        ctx.links_touched = True
        # Both ways: whichever campaigns, the voter's answer takes `delay` to come back and the winner's
        # first entry `delay` to arrive, long enough to see the vote and hold that entry back.
        p, q = others
        delays = {(q, p): delay, (p, q): delay}
        delayed = [[p, q], [q, p]]
        for a, b in delays:
            ctx.backend.set_delay(a, b, delay)
        winner = _await_winner(ctx, others, st["term"], delays, hold, time.monotonic() + wait)
        if winner is None:
            return {"leader": lead, "voter": None, "delayed": delayed, "grudge": grudge_value(grudge)}
        voter = next(n for n in others if n != winner)
        ctx.backend.kill(voter)
        ctx.killed.add(voter)
        # The winner stays cut off (it leads alone until CheckQuorum deposes it); L and the voter talk again.
        for a, b in ((winner, voter), (voter, winner)):
            ctx.backend.cut(a, b)
        for a, b in ((lead, voter), (voter, lead)):
            ctx.backend.restore(a, b)
        # The restarted voter campaigns too once its timer runs out; L, still in the old term, has to ask
        # first, so the voter's own requests reach L a little late.
        ctx.backend.set_delay(voter, lead, late)
        delayed.append([voter, lead])
        ctx.backend.start(voter)
        ctx.killed.discard(voter)
        # The heal must not come before L has had its chance: the voter's restart takes seconds on a
        # loaded machine, and healed links let L learn a later term from the winner first.
        back = wait_for(lambda: _status(ctx, voter), wait)
        term = st["term"] + 1
        settled_l = wait_for(lambda: (s := _status(ctx, lead)) and (s.get("role") == "leader" or
                                                                   s.get("term", 0) > term) and s, wait)
        return {"leader": lead, "voter": voter, "winner": winner, "term": term,
                "voter_back": bool(back), "leader_then": settled_l and [settled_l.get("role"), settled_l.get("term")],
                "delayed": delayed, "grudge": grudge_value(isolate(winner, nodes))}

    def stop(ctx: Context, value):
        ctx.backend.restore_all()
        for a, b in value.get("delayed", ()):
            ctx.backend.set_delay(a, b, 0.0)
        return {"healed": value.get("grudge", {})}

    # aimed at one moment of a 3-node election: by its name only (a bug campaign's fault)
    return FaultPackage("kill-voter", "kill", KILL_COLOUR, "kill-voter", "heal", start, stop,
                        (Killable, Partitionable, Delayable), needs=("leader", "status"),
                        start_timeout=STEADY_TIMEOUT + 3 * wait, offered_by=())


def packages() -> list[FaultPackage]:
    return [kill_voter()]
