"""A follower is sent a snapshot of what it already holds and knows to be committed.

The leader sends a follower a snapshot when the follower's next entry was
compacted away, judging by the acknowledgements it has seen. This package makes
that judgement stale on purpose, at the moment it matters, watching the nodes'
status instead of trusting timing:

1. just before the leader's next snapshot (its interval learnt from the
   snapshot indexes it reports), follower f's acknowledgements start reaching
   it `stale` seconds late, so the leader's view of f stays before the snapshot;
2. once the leader has taken the snapshot and f's commit index has passed it,
   f crashes (its link from the leader held, so the leader does not notice) and
   comes straight back with everything it had, acknowledgements now
   `reply_delay` late (the snapshot's transfer, one chunk per acknowledgement,
   must finish well within `stale`); the monitor sees its commit index;
3. the leader's link to f heals: its old connection fails, it probes f from the
   stale view, finds that compacted and streams the snapshot.

Installing it must change nothing (Raft: a snapshot of what is already
committed is old news). A follower that installs it anyway throws away
committed entries and its commit index goes back, which the suite's
commit-monotonicity check reports. The leader's next append (sent at f's next
heartbeat answer) would mend it within a tick, between two of the monitor's
samples: once the fault sees f's commit index go back, it holds the leader's
link to f for `DIP_HOLD`. It records what it saw (`commit_before`,
`commit_after`) and goes again while its time lasts if nothing went back (a
new election meanwhile resets the leader's view of f).

Needs the nodes' status with snapshot_index (the reference KV), and snapshots a
few seconds apart (`--snapshot-every`); elsewhere the fault is unavailable.
"""
from __future__ import annotations

import time

from ..types import Delayable, Killable, Partitionable
from .base import Context, FaultPackage
from .observe import field, require, settled, status, wait_for
from .process import KILL_COLOUR

# A freshly restarted node is sampled by the suite's monitor (20 ms period) before anything is sent to it.
MONITOR_PERIODS = 0.06
DIP_HOLD = 0.08  # below an election timeout (100 ms), so f does not campaign meanwhile

PAST_SNAPSHOT = 8
IDLE = 2.0
INTERVAL = "snapshot-interval"  # Context.memo: the leader's snapshot interval in entries, learnt once per run


def _last_index(st: dict) -> int:
    return st.get("snapshot_index", 0) + st.get("log_size", 0)


class _Idle(Exception):
    """The leader applies nothing any more (the load has ended): no snapshot is coming."""


def _watch(ctx: Context, lead: str, idle: float = IDLE):
    """The leader's status, raising _Idle once its applied index has not moved for `idle` seconds."""
    seen = {"applied": None, "since": time.monotonic()}

    def look() -> dict:
        st = status(ctx, lead) or {}
        if st.get("applied") != seen["applied"]:
            seen.update(applied=st.get("applied"), since=time.monotonic())
        elif time.monotonic() - seen["since"] > idle:
            raise _Idle
        return st
    return look


def _next_snapshot(ctx: Context, lead: str, after: int, timeout: float) -> int | None:
    look = _watch(ctx, lead)
    snap = wait_for(lambda: (i := look().get("snapshot_index", 0)) > after and i, timeout)
    return snap or None


def _interval(ctx: Context, lead: str, st: dict, deadline: float) -> int | None:
    every = ctx.memo.get(INTERVAL)
    if every:
        return every
    first = _next_snapshot(ctx, lead, st["snapshot_index"], deadline - time.monotonic())
    if first is None:
        return None
    if st["snapshot_index"] == 0:
        every = first  # the first snapshot comes `every` entries after the start
    else:
        second = _next_snapshot(ctx, lead, first, deadline - time.monotonic())
        if second is None:
            return None
        every = second - first
    ctx.memo[INTERVAL] = every
    return every


def kill_follower_after_snapshot(stale: float = 4.0, reply_delay: float = 0.15, margin: float = 0.05,
                                 wait: float = 20.0) -> FaultPackage:
    def start(ctx: Context):
        deadline = time.monotonic() + wait
        tried, rounds = {}, []
        try:
            _rounds(ctx, deadline, tried, rounds)
        except _Idle:
            tried["why"] = "the leader stopped applying"
        finally:
            if tried:
                ctx.backend.set_delay(tried["follower"], tried["leader"], 0.0)
        if not rounds:
            return {"nodes": [], "why": "no snapshot to race in time", **tried}
        return {"nodes": sorted({r["follower"] for r in rounds}), "rounds": rounds}

    def _rounds(ctx: Context, deadline: float, tried: dict, rounds: list) -> None:
        while time.monotonic() < deadline:
            calm = settled(ctx, deadline - time.monotonic())  # f up again after an earlier round, one leader
            if calm is None:
                return
            lead = calm[0]
            st = require(ctx, lead, "snapshot_index", "applied", "log_size")
            every = _interval(ctx, lead, st, deadline)
            if every is None:
                return

            def leader_status():
                s = status(ctx, lead)
                return s if s and s.get("role") == "leader" and s.get("term") == st.get("term") else None

            f = ctx.rng.choice([n for n in sorted(ctx.nodes) if n != lead])
            tried.update(leader=lead, follower=f)
            prev = field(ctx, lead, "snapshot_index")
            due = prev + every - max(1, int(every * margin))
            look = _watch(ctx, lead)
            near = wait_for(lambda: (s := look()).get("role") != "leader" or s["applied"] >= due,
                            deadline - time.monotonic())
            if not near or not leader_status():
                continue  # the deadline, or the leader changed: look again
            ctx.backend.set_delay(f, lead, stale)
            ctx.links_touched = True
            seen = _last_index(status(ctx, f) or {})  # the most the leader can believe f holds, for `stale`
            snap = _next_snapshot(ctx, lead, prev, deadline - time.monotonic())
            # f's applied index is what it restarts with (its commit index as last persisted may lag):
            # a few entries past the snapshot, or its going back could not be seen.
            ahead = snap and wait_for(lambda: field(ctx, f, "applied") > snap + PAST_SNAPSHOT, 1.0)
            if snap and seen < snap and ahead and leader_status():
                r = _crash_and_resend(ctx, lead, f, snap, stale, reply_delay)
                # A new election meanwhile (a loaded machine misses heartbeats) resets the leader's view
                # of f: no snapshot is sent. Go again while time is left.
                r["leader_kept_term"] = leader_status() is not None
                ctx.backend.set_delay(f, lead, 0.0)
                rounds.append(r)
                if r["commit_after"]:
                    return
                continue
            # The snapshot came before the delay, f fell behind or the leader changed: try again once
            # the leader has heard f's late acknowledgements.
            ctx.backend.set_delay(f, lead, 0.0)
            time.sleep(stale)

    def stop(ctx: Context, value):
        for n in value["nodes"]:
            ctx.backend.start(n)
            ctx.killed.discard(n)
        return {"nodes": value["nodes"]}

    # its rounds end by `wait`; the last may still wait out a restart and a dip (`stale` each)
    return FaultPackage("kill-follower-after-snapshot", "kill", KILL_COLOUR, "kill", "restart", start, stop,
                        (Delayable, Killable, Partitionable), needs=("leader", "status"),
                        start_timeout=wait + 2 * stale + 1.0, offered_by=())


def _crash_and_resend(ctx: Context, lead: str, f: str, snap: int, stale: float, reply_delay: float) -> dict:
    t0 = time.monotonic()

    def ms():
        return round((time.monotonic() - t0) * 1000)

    ctx.backend.cut(lead, f)  # the leader's connection stays open while f is down: it notices nothing yet
    ctx.backend.kill(f)
    ctx.killed.add(f)
    ctx.backend.set_delay(f, lead, reply_delay)  # f's new connection; the old one's bytes keep their delay
    ctx.backend.start(f)
    ctx.killed.discard(f)
    before = wait_for(lambda: field(ctx, f, "commit"), stale)
    up = ms()
    time.sleep(MONITOR_PERIODS)
    ctx.backend.restore(lead, f)
    restored = ms()
    after = wait_for(lambda: (c := field(ctx, f, "commit", None)) is not None and c < before and c or None,
                     stale, period=0) if before else None
    if after:
        # The leader's next append (due at its next heartbeat answer from f) would mend the commit index
        # within a tick, unseen between the monitor's samples: hold it back for a few of them.
        ctx.backend.cut(lead, f)
        time.sleep(DIP_HOLD)
        ctx.backend.restore(lead, f)
    return {"leader": lead, "follower": f, "snapshot": snap, "commit_before": before,
            "commit_after": after, "leader_snapshot_now": field(ctx, lead, "snapshot_index"),
            "ms": {"up": up, "restored": restored, "went_back": ms() if after else None}}


def packages() -> list[FaultPackage]:
    return [kill_follower_after_snapshot()]
