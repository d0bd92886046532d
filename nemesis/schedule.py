"""Seeded, reproducible fault schedules that always end healed.

`plan()` is pure: (packages, seed, timings) -> the same list of steps every time.
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


def plan(packages: Sequence[FaultPackage], seed: int, duration: float, interval: float = 5.0,
         fault_duration: float = 5.0, jitter: float = 0.5) -> list[Step]:
    """Alternate quiet gaps of ~interval with one fault lasting ~fault_duration, until duration."""
    if not packages:
        raise ValueError("no fault packages to schedule")
    # written so that NaN fails too (it compares false with everything): a NaN duration never ends the loop
    if not (0 < interval < math.inf and 0 < fault_duration < math.inf and 0 <= duration < math.inf):
        raise ValueError("interval and fault_duration must be finite and > 0, duration finite and >= 0")
    rng = random.Random(seed)
    steps: list[Step] = []
    t, i = 0.0, 0
    while True:
        t += interval * rng.uniform(1 - jitter, 1 + jitter)
        held = fault_duration * rng.uniform(1 - jitter, 1 + jitter)
        if t + held > duration:
            return steps
        pkg = rng.choice(packages)
        steps.append(Step(round(t, 3), "start", pkg.name, i))
        t += held
        steps.append(Step(round(t, 3), "stop", pkg.name, i))
        i += 1


class Schedule:
    def __init__(self, ctx: Context, packages: Sequence[FaultPackage], history, *, seed: int = 0,
                 duration: float = 60.0, interval: float = 5.0, fault_duration: float = 5.0,
                 quiet: float = 5.0, jitter: float = 0.5):
        missing = {p.name: p.missing(ctx) for p in packages if p.missing(ctx)}
        if missing:
            raise ValueError("faults the backend or suite cannot do: " +
                             "; ".join(f"{k} needs {', '.join(v)}" for k, v in missing.items()))
        self.ctx = ctx
        self.packages = {p.name: p for p in packages}
        self.history = history
        self.seed = seed
        self.quiet = quiet
        self.steps = plan(list(packages), seed, duration, interval, fault_duration, jitter)
        self.active: dict[int, tuple[FaultPackage, dict]] = {}
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
        try:
            for step in self.steps:
                if self._stop.wait(max(0.0, t0 + step.at - time.monotonic())):
                    break
                self._do(step)
        finally:
            self.final_heal()

    def _do(self, step: Step) -> None:
        pkg = self.packages[step.fault]
        self.ctx.rng = random.Random(f"{self.seed}:{step.index}")
        try:
            if step.action == "start":
                value = pkg.start(self.ctx)
                self.active[step.index] = (pkg, value)
                self.history.event(pkg.start_f, value, fault=pkg.name, phase="start")
            elif step.index in self.active:
                _, value = self.active.pop(step.index)
                out = pkg.stop(self.ctx, value)
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
            for index, (pkg, value) in sorted(self.active.items(), reverse=True):
                try:
                    self.history.event(pkg.stop_f, pkg.stop(self.ctx, value), fault=pkg.name, phase="stop")
                except Exception as e:
                    self.errors.append(traceback.format_exc())
                    self.history.event("stop-failed", {"fault": pkg.name, "error": str(e)}, fault=pkg.name)
            self.active.clear()
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
