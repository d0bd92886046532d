"""Seeded, reproducible fault schedules that always end healed.

`plan()` is pure: (packages, seed, timings) -> the same list of steps every time:
one fault at a time. `plan_combined()` is Jepsen's combined nemesis: one such
stream per lane (links, nodes, clock, disk, membership: `FaultPackage.lane`),
the streams overlapping, so a partition is in force while a node is killed and
a clock is off; each lane runs in its own thread, so a fault that blocks (a
member brought back) holds up only its own lane.
Targets are drawn at run time from a Random seeded by (seed, step), so a rerun
with the same cluster state picks the same nodes. `Schedule` runs the plan in a
thread, writes every step to the history with its fault and phase (`start` or
`stop`; the final heal is a `stop` of every fault still on), and `stop()` (safe
from a signal handler's caller or a `finally`) heals everything: every active
fault stopped, links restored, paused nodes resumed, killed nodes restarted,
clocks reset, ballast removed, removed members re-added; then a quiet period.
"""
from __future__ import annotations

import dataclasses
import math
import random
import threading
import time
import traceback
from typing import Sequence

from .faults.base import Context, FaultPackage
from .types import ClockControl, DiskFull, LinkReset, Partitionable, Pausable


@dataclasses.dataclass(frozen=True)
class Step:
    at: float          # seconds after the schedule starts
    action: str        # "start" | "stop"
    fault: str         # package name
    index: int         # which occurrence; start and stop of one fault share it
    lane: str = ""     # its stream in a combined schedule ("": the one stream of `plan`)


MODES = ("sequential", "combined")  # one fault at a time (`plan`), or one stream per lane (`plan_combined`)


def _check_timings(interval: float, fault_duration: float, duration: float) -> None:
    # written so that NaN fails too (it compares false with everything): a NaN duration never ends the loop
    if not (0 < interval < math.inf and 0 < fault_duration < math.inf and 0 <= duration < math.inf):
        raise ValueError("interval and fault_duration must be finite and > 0, duration finite and >= 0")


def _stream(packages, rng: random.Random, duration: float, interval: float, fault_duration: float,
            jitter: float):
    """(start, stop, package) of one stream: quiet gaps of ~interval, each fault lasting ~fault_duration."""
    t = 0.0
    while True:
        t += interval * rng.uniform(1 - jitter, 1 + jitter)
        held = fault_duration * rng.uniform(1 - jitter, 1 + jitter)
        if t + held > duration:
            return
        yield round(t, 3), round(t + held, 3), rng.choice(packages)
        t += held


def plan(packages: Sequence[FaultPackage], seed: int, duration: float, interval: float = 5.0,
         fault_duration: float = 5.0, jitter: float = 0.5) -> list[Step]:
    """Alternate quiet gaps of ~interval with one fault lasting ~fault_duration, until duration."""
    if not packages:
        raise ValueError("no fault packages to schedule")
    _check_timings(interval, fault_duration, duration)
    steps: list[Step] = []
    for i, (start, stop, pkg) in enumerate(_stream(packages, random.Random(seed), duration, interval,
                                                   fault_duration, jitter)):
        steps += [Step(start, "start", pkg.name, i), Step(stop, "stop", pkg.name, i)]
    return steps


def plan_combined(packages: Sequence[FaultPackage], seed: int, duration: float, interval: float = 5.0,
                  fault_duration: float = 5.0, jitter: float = 0.5) -> list[Step]:
    """One stream per lane (each as `plan` draws one, from its own seeded Random), overlapping; the
    occurrences numbered in the order they start, the steps in time order (a stop before a start at
    the same moment)."""
    if not packages:
        raise ValueError("no fault packages to schedule")
    _check_timings(interval, fault_duration, duration)
    lanes: dict[str, list[FaultPackage]] = {}
    for p in packages:
        lanes.setdefault(p.lane, []).append(p)
    faults = sorted((start, lane, stop, pkg.name) for lane, pkgs in lanes.items()
                    for start, stop, pkg in _stream(pkgs, random.Random(f"{seed}:{lane}"), duration, interval,
                                                    fault_duration, jitter))
    steps = []
    for i, (start, lane, stop, name) in enumerate(faults):
        steps += [Step(start, "start", name, i, lane), Step(stop, "stop", name, i, lane)]
    return sorted(steps, key=lambda s: (s.at, s.action != "stop", s.index))


class Schedule:
    def __init__(self, ctx: Context, packages: Sequence[FaultPackage], history, *, seed: int = 0,
                 duration: float = 60.0, interval: float = 5.0, fault_duration: float = 5.0,
                 quiet: float = 5.0, jitter: float = 0.5, mode: str = "sequential"):
        missing = {p.name: p.missing(ctx) for p in packages if p.missing(ctx)}
        if missing:
            raise ValueError("faults the backend or suite cannot do: " +
                             "; ".join(f"{k} needs {', '.join(v)}" for k, v in missing.items()))
        self.ctx = ctx
        self.packages = {p.name: p for p in packages}
        self.history = history
        self.seed = seed
        self.quiet = quiet
        if mode not in MODES:
            raise ValueError(f"unknown schedule mode {mode!r} (one of {', '.join(MODES)})")
        self.steps = (plan_combined if mode == "combined" else plan)(list(packages), seed, duration, interval,
                                                                      fault_duration, jitter)
        self.active: dict[int, tuple[FaultPackage, dict]] = {}
        self._active_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._healed = threading.Lock()
        self._heal_done = False
        self.errors: list[str] = []

    # -- running ----------------------------------------------------------------------------

    def start(self) -> "Schedule":
        self._thread = threading.Thread(target=self.run, name="nemesis-schedule", daemon=True)
        self._thread.start()
        return self

    def run(self) -> None:
        self.history.event("nemesis-start", {"seed": self.seed, "steps": len(self.steps)})
        t0 = time.monotonic()
        lanes: dict[str, list[Step]] = {}
        for step in self.steps:
            lanes.setdefault(step.lane, []).append(step)
        try:
            if len(lanes) <= 1:
                self._run_lane(self.steps, t0)
            else:
                threads = [threading.Thread(target=self._run_lane, args=(steps, t0), daemon=True,
                                            name=f"nemesis-{lane}") for lane, steps in lanes.items()]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
        finally:
            self.final_heal()

    def _run_lane(self, steps: Sequence[Step], t0: float) -> None:
        for step in steps:
            if self._stop.wait(max(0.0, t0 + step.at - time.monotonic())):
                return
            self._do(step)

    def _do(self, step: Step) -> None:
        pkg = self.packages[step.fault]
        # Each step draws its targets from its own Random (lanes run at once): the same nodes on a rerun.
        # The copy shares every set and dict of the run's Context, so what a fault broke is known to all.
        ctx = dataclasses.replace(self.ctx, rng=random.Random(f"{self.seed}:{step.index}"))
        try:
            if step.action == "start":
                value = pkg.start(ctx)
                with self._active_lock:  # the final heal takes what is active under this lock
                    late = self._heal_done
                    if not late:
                        self.active[step.index] = (pkg, value)
                    self.history.event(pkg.start_f, value, fault=pkg.name, phase="start")
                if late:  # the final heal went by while this start blocked: nothing else will undo it
                    self.history.event(pkg.stop_f, pkg.stop(ctx, value), fault=pkg.name, phase="stop")
            else:
                with self._active_lock:
                    started = self.active.pop(step.index, None)
                if started is None:
                    return
                out = pkg.stop(ctx, started[1])
                self.history.event(pkg.stop_f, out, fault=pkg.name, phase="stop")
        except Exception as e:
            # A fault that could not be injected is recorded, never silently skipped.
            self.errors.append(traceback.format_exc())
            self.history.event(f"{step.action}-failed", {"fault": pkg.name, "error": f"{type(e).__name__}: {e}"},
                               fault=pkg.name)

    def stop(self, timeout: float | None = None) -> None:
        """Stop at once and heal; waits for a start under way (at most its package's start_timeout)."""
        self._stop.set()
        if timeout is None:
            timeout = max((p.start_timeout for p in self.packages.values()), default=0.0) + 5.0
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self.final_heal()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    # -- healing ----------------------------------------------------------------------------

    def final_heal(self) -> None:
        with self._healed:
            if self._heal_done:
                return
            self._heal_done = True
            with self._active_lock:
                active = sorted(self.active.items(), reverse=True)
                self.active.clear()
            for index, (pkg, value) in active:
                try:
                    self.history.event(pkg.stop_f, pkg.stop(self.ctx, value), fault=pkg.name, phase="stop")
                except Exception as e:
                    self.errors.append(traceback.format_exc())
                    self.history.event("stop-failed", {"fault": pkg.name, "error": str(e)}, fault=pkg.name)
            self.history.event("heal", heal_everything(self.ctx), phase="stop")
            if self.quiet > 0:
                time.sleep(self.quiet)
            self.history.event("nemesis-stop", {"errors": len(self.errors)})


def heal_everything(ctx: Context) -> dict:
    """Undo whatever may still be broken; returns what it did. Idempotent."""
    b = ctx.backend
    done: dict[str, object] = {}
    stopped = ctx.stop_running()
    if stopped:
        done["stopped"] = stopped
    if isinstance(b, LinkReset):
        b.reset_links()
        done["links"] = "reset"
    elif isinstance(b, Partitionable):
        b.restore_all()
        done["links"] = "restored"
    if isinstance(b, Pausable):
        for n in sorted(ctx.paused | set(getattr(b, "paused", ()))):
            b.resume(n)
        done["resumed"] = sorted(ctx.paused)
        ctx.paused.clear()
    if isinstance(b, ClockControl):
        for n in sorted(ctx.clocks_touched):
            b.set_clock(n, 0.0, 1.0)
        done["clocks"] = sorted(ctx.clocks_touched)
        ctx.clocks_touched.clear()
    if isinstance(b, DiskFull):
        for n in sorted(ctx.disks_filled):
            b.free_disk(n)
        ctx.disks_filled.clear()
    restarted = []
    for n in sorted(ctx.nodes):
        if not b.is_running(n):
            b.start(n)
            restarted.append(n)
    ctx.killed.clear()
    done["restarted"] = restarted
    if ctx.removed and ctx.add_member is not None:
        for n in sorted(ctx.removed):
            ctx.add_member(n)
        done["re-added"] = sorted(ctx.removed)
        ctx.removed.clear()
    return done
