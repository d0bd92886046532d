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
"""
from __future__ import annotations

import time

from ..types import Delayable, Killable, Partitionable
from .base import Context, FaultPackage


def kill_leader_commit_lag(lag: float = 0.08, reply_delay: float = 0.06, hold: float = 0.6) -> FaultPackage:
    def start(ctx: Context):
        lead = ctx.leader()
        nodes = sorted(ctx.nodes)
        if lead not in nodes or len(nodes) != 3:
            return {"nodes": [], "delayed": []}
        x, y = ctx.rng.sample([n for n in nodes if n != lead], 2)
        ctx.backend.cut(lead, y)
        ctx.links_touched = True
        delayed = [[lead, x, lag], [y, x, reply_delay]]
        for a, b, d in delayed:
            ctx.backend.set_delay(a, b, d)
        time.sleep(hold)  # writes keep being acknowledged; X hears of each `lag` later
        ctx.backend.cut(lead, x)  # what is still in flight stays there
        ctx.backend.kill(lead)
        ctx.killed.add(lead)
        return {"nodes": [lead], "ahead": x, "behind": y, "delayed": delayed}

    def stop(ctx: Context, value):
        ctx.backend.restore_all()
        for a, b, _ in value["delayed"]:
            ctx.backend.set_delay(a, b, 0.0)
        for n in value["nodes"]:
            ctx.backend.start(n)
            ctx.killed.discard(n)
        return {"nodes": value["nodes"]}

    return FaultPackage("kill-leader-commit-lag", "kill", "restart", start, stop,
                        (Delayable, Killable, Partitionable), ("leader",))


PACKAGES = [kill_leader_commit_lag()]
