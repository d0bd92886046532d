"""Leader faults that leave the next leader behind on what the old one acknowledged.

kill-leader-commit-lag: followers learn that an entry is committed only from
the leader's next message, so they always know a little less than the leader
has acknowledged to clients. Here the leader's link to follower X is slowed by
`lag` (every write it acknowledges reaches X's commit index `lag` later), its
link to follower Y is cut (Y falls behind, and keeps its term: PreVote), then
the leader's last messages are held back and it is killed. X, whose log is the
longest, is elected with a commit index behind acknowledged writes, and its
first entry cannot commit before Y, whose answers reach X `reply_delay` late,
has been brought up to date: for a few round trips the new leader's commit
index is stale. That is the moment a leader must not answer ReadIndex (Raft
thesis 6.4, step 1: commit an entry of your own term first).

The fault starts from a settled cluster and keeps its delays until the nodes'
status shows the new leader's commit index past what the old one had
acknowledged (it records how long that took), whatever the machine's speed.
"""
from __future__ import annotations

import time

from ..types import Delayable, Killable, Partitionable
from .base import Context, FaultPackage
from .observe import field, leader_after, require, settled, wait_for
from .process import KILL_COLOUR


def kill_leader_commit_lag(lag: float = 0.12, reply_delay: float = 0.06, hold: float = 0.5,
                           wait: float = 3.0, settle: float = 10.0) -> FaultPackage:
    def start(ctx: Context):
        nodes = sorted(ctx.nodes)
        calm = settled(ctx, settle) if len(nodes) == 3 else None
        if calm is None:
            return {"nodes": [], "delayed": [], "why": "no settled leader"}
        lead, sts = calm
        term = require(ctx, lead, "term", "commit")["term"]
        x, y = ctx.rng.sample([n for n in nodes if n != lead], 2)
        ctx.backend.cut(lead, y)
        ctx.links_touched = True
        delayed = [[lead, x, lag], [y, x, reply_delay]]
        for a, b, d in delayed:
            ctx.backend.set_delay(a, b, d)
        time.sleep(hold)  # writes keep being acknowledged; X hears of each `lag` later
        acknowledged = field(ctx, lead, "commit")
        ctx.backend.cut(lead, x)  # what is still in flight stays there
        ctx.backend.kill(lead)
        ctx.killed.add(lead)
        value = {"nodes": [lead], "down": [lead], "ahead": x, "behind": y, "delayed": delayed,
                 "acknowledged": acknowledged}
        # The delays stay until the new leader's commit index has caught up with what the old one
        # acknowledged: healing earlier (a fixed fault duration) would close the window unseen.
        won = wait_for(lambda: leader_after(ctx, [x, y], term), wait)
        if won is None:
            return {**value, "elected": None}
        elected_at = time.monotonic()
        caught_up = wait_for(lambda: field(ctx, won[0], "commit") >= acknowledged, wait)
        return {**value, "elected": won[0], "commit_when_elected": won[1].get("commit"),
                "behind_for_ms": round((time.monotonic() - elected_at) * 1000) if caught_up else None}

    def stop(ctx: Context, value):
        ctx.backend.restore_all()
        for a, b, _ in value["delayed"]:
            ctx.backend.set_delay(a, b, 0.0)
        for n in value["nodes"]:
            ctx.backend.start(n)
            ctx.killed.discard(n)
        return {"nodes": value["nodes"]}

    return FaultPackage("kill-leader-commit-lag", "kill", KILL_COLOUR, "kill", "restart", start, stop,
                        (Delayable, Killable, Partitionable), needs=("leader", "status"),
                        start_timeout=settle + hold + 2 * wait + 1.0, offered_by=())


def packages() -> list[FaultPackage]:
    return [kill_leader_commit_lag()]
