"""A follower crashes just after the leader took a snapshot, while its acknowledgements lag.

The leader sends a follower a snapshot when the follower's next entry was
compacted away, judging by the acknowledgements it has seen. With the
follower's acknowledgements slowed by `lag`, the leader's view is `lag` old:
when the follower crashes right after the leader took a snapshot (unseen by
the leader, whose link to it is held) and comes back at once, the leader
probes from that old position, finds it compacted and streams the snapshot,
although the follower already holds, and knows to be committed, everything up
to the snapshot and beyond. Installing it must then
change nothing (Raft: a snapshot of what is already committed is old news); a
follower that installs it anyway throws away committed entries, and its commit
index goes back, which the suite's commit-monotonicity check reports.

Needs the leader's `GET /status` (`snapshot_index`) as the reference KV serves
it, and snapshots a few seconds apart (`--snapshot-every`); elsewhere the fault
is unavailable.
"""
from __future__ import annotations

import time

from ..types import Delayable, Killable, Partitionable
from .base import Context, FaultPackage, FaultUnavailable
from .election_crash import _status


def _wait(pred, deadline: float):
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.005)
    return None


def kill_follower_after_snapshot(lag: float = 2.0, wait: float = 8.0) -> FaultPackage:
    def start(ctx: Context):
        lead = ctx.leader()
        nodes = sorted(ctx.nodes)
        if lead not in nodes:
            return {"nodes": [], "leader": None}
        st = _status(ctx, lead)
        if st is None or "snapshot_index" not in st:
            raise FaultUnavailable("kill-follower-after-snapshot needs GET /status with snapshot_index")
        f = ctx.rng.choice([n for n in nodes if n != lead])
        ctx.backend.set_delay(f, lead, lag)
        ctx.links_touched = True
        time.sleep(lag)  # the leader's view of f is now `lag` old
        deadline = time.monotonic() + wait

        def snapshot():
            s = _status(ctx, lead)
            return s and s.get("snapshot_index", 0) > st["snapshot_index"] and s["snapshot_index"]

        snap = _wait(snapshot, deadline)
        if not snap or not _wait(lambda: (_status(ctx, f) or {}).get("commit", 0) >= snap, deadline):
            ctx.backend.set_delay(f, lead, 0.0)
            return {"nodes": [], "leader": lead, "snapshot": snap}
        # f holds and knows committed everything up to the snapshot. Held off, the leader does not see
        # f crash; f comes back at once (its new connection without the delay) and only then does
        # the leader's old connection fail, so it probes f from its `lag`-old view: a snapshot.
        ctx.backend.cut(lead, f)
        ctx.backend.kill(f)
        ctx.killed.add(f)
        ctx.backend.set_delay(f, lead, 0.0)
        ctx.backend.start(f)
        ctx.killed.discard(f)
        _wait(lambda: _status(ctx, f), time.monotonic() + wait)
        ctx.backend.restore(lead, f)
        return {"nodes": [f], "leader": lead, "snapshot": snap}

    def stop(ctx: Context, value):
        for n in value["nodes"]:
            ctx.backend.start(n)
            ctx.killed.discard(n)
        return {"nodes": value["nodes"]}

    return FaultPackage("kill-follower-after-snapshot", "kill", "restart", start, stop,
                        (Delayable, Killable, Partitionable), ("leader",))


PACKAGES = [kill_follower_after_snapshot()]
