"""Seeds of the simulated world (reference_kv.sim.world) checked, failures kept and shrunk.

    from splitbrain import simulation
    cfg = simulation.Config(regions=False, bug=None)
    r = simulation.run_seed(7, cfg)            # one world, its invariants and its history checked
    r.failed, r.reasons
    small = simulation.shrink(r, cfg)          # the fewest faults and the shortest time that still fail
    simulation.search(cfg, seeds=100)          # many seeds, progress lines, a run directory per failure

A seed fails when an invariant broke while it ran (two leaders in a term, a committed entry that
changed, replicas that disagree at one applied index, durable state that went back, a node that
died of an error, a run that never ended) or when the checker finds its history not linearizable.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import sys
import tempfile
import time

from checker.history import History
from reference_kv.sim import world

TMP_ROOT = "/dev/shm" if pathlib.Path("/dev/shm").is_dir() else None  # snapshots are files: keep them in memory


@dataclasses.dataclass(frozen=True)
class Config:
    regions: bool = False
    bug: str | None = None
    duration: float = 20.0
    faults: tuple[str, ...] | None = None  # the fault kinds drawn (None: all of world.FAULTS)
    check_timeout: float = 60.0

    def label(self) -> str:
        return ("regions" if self.regions else "node") + (f"+{self.bug}" if self.bug else "")

    def as_json(self) -> dict:
        return {"regions": self.regions, "unsafe_bug": self.bug, "duration": self.duration,
                "faults": list(self.faults) if self.faults else None}


@dataclasses.dataclass
class SeedResult:
    seed: int
    outcome: world.Outcome
    reasons: list[str]  # why it failed; empty: it passed
    checked: dict  # the checker's verdict fields

    @property
    def failed(self) -> bool:
        return bool(self.reasons)


def schedule_of(seed: int, cfg: Config) -> world.Schedule:
    return world.plan(seed, cfg.regions, cfg.duration, cfg.faults)


def run_seed(seed: int, cfg: Config, schedule: world.Schedule | None = None) -> SeedResult:
    """One world (seed's own schedule unless given), its invariants and its history checked."""
    with tempfile.TemporaryDirectory(prefix="splitbrain-sim-", dir=TMP_ROOT) as root:
        out = world.simulate(seed, schedule or schedule_of(seed, cfg), regions=cfg.regions, root=root, bug=cfg.bug)
    reasons = list(out.violations)
    checked = check_history(out, cfg.check_timeout)
    if checked.get("valid") is False:
        reasons.append(f"not linearizable: {checked.get('sentence') or 'see the history'}")
    return SeedResult(seed, out, reasons, checked)


def check_history(out: world.Outcome, timeout: float) -> dict:
    import checker
    from checker.report import witnesses

    result = checker.check(History(out.history), model=out.model, timeout=timeout)
    fields = {"valid": result.valid, "model": out.model, "ops": result.ops}
    if result.valid is False:
        try:
            ws = witnesses(result)
        except Exception:  # noqa: BLE001 - the verdict stands without its sentence
            ws = []
        if ws:
            fields["sentence"] = f"key {ws[0]['key']}: {ws[0]['sentence']}"[:300]
            fields["witnesses"] = ws
    return fields


def shrink(r: SeedResult, cfg: Config, progress=None, budget: float = 300.0) -> world.Schedule:
    """Delta debugging (Zeller's ddmin) over the fault list, then the shortest run time that still
    fails, in the same seed's world; -> the smallest schedule found that fails."""
    deadline = time.monotonic() + budget
    sched = r.outcome.schedule
    tries = 0

    def fails(s: world.Schedule) -> bool:
        nonlocal tries
        tries += 1
        ok = run_seed(r.seed, cfg, s).failed
        if progress:
            progress(f"shrinking seed {r.seed}: try {tries}, {len(s.faults)} faults, {s.duration:.1f}s: "
                     f"{'fails' if ok else 'passes'}")
        return ok

    faults = list(sched.faults)
    n = 2
    while len(faults) >= 1 and time.monotonic() < deadline:
        chunk = max(1, len(faults) // n)
        parts = [faults[i:i + chunk] for i in range(0, len(faults), chunk)]
        reduced = False
        for k in range(len(parts)):
            rest = [f for j, p in enumerate(parts) if j != k for f in p]
            if time.monotonic() >= deadline:
                break
            if fails(sched.with_faults(rest)):
                faults, n, reduced = rest, max(n - 1, 2), True
                break
        if not reduced:
            if chunk == 1:
                break
            n = min(len(faults), n * 2)
    sched = sched.with_faults(faults)
    # The shortest time: the end just after the last fault began, then halving what is left over it.
    lo = max((f.at for f in faults), default=0.0) + 0.1
    hi = sched.duration
    if lo < hi and time.monotonic() < deadline and fails(sched.with_faults(faults, lo)):
        return sched.with_faults(faults, round(lo, 3))
    while hi - lo > 0.5 and time.monotonic() < deadline:
        mid = round((lo + hi) / 2, 3)
        if fails(sched.with_faults(faults, mid)):
            hi = mid
        else:
            lo = mid
    return sched.with_faults(faults, hi)


def failing_ops(r: SeedResult, limit: int = 8) -> list[str]:
    """The operations the checker's witnesses name, else the last operations before the first breach."""
    ws = r.checked.get("witnesses") or []
    lines = []
    for w in ws[:2]:
        for op in (w.get("ops") or [])[:limit]:
            lines.append(f"  key {w['key']}: {op}")
    return lines


def write_run_dir(out_dir: pathlib.Path, r: SeedResult, cfg: Config, shrunk: world.Schedule | None) -> pathlib.Path:
    """A run directory like a real run's: history, trace, the schedule (and shrunk one), summary, report."""
    from splitbrain import rundir
    from splitbrain.evaluate import evaluate

    run = rundir.fresh(out_dir, f"simulate-{cfg.label()}-seed{r.seed}")
    rundir.claim(run)
    with open(run / rundir.HISTORY, "w") as fh:
        for ev in r.outcome.history:
            fh.write(json.dumps(ev, separators=(",", ":")) + "\n")
    with open(run / "trace.jsonl", "w") as fh:
        for ev in r.outcome.trace:
            fh.write(json.dumps(ev, separators=(",", ":")) + "\n")
    sim = {"seed": r.seed, **cfg.as_json(), "schedule": r.outcome.schedule.as_json(), "reasons": r.reasons,
           "shrunk": shrunk.as_json() if shrunk else None,
           "replay": replay_command(r.seed, cfg)}
    (run / "simulation.json").write_text(json.dumps(sim, indent=2) + "\n")
    (run / rundir.CONFIG).write_text(json.dumps({"model": r.outcome.model, "workload": "simulated " +
                                                 r.outcome.schedule.workload}, indent=2) + "\n")
    try:
        evaluate(run, model=r.outcome.model, timeout=cfg.check_timeout)
    except Exception as e:  # noqa: BLE001 - the history and trace stand without the report
        (run / "report-error.txt").write_text(f"{type(e).__name__}: {e}\n")
    return run


def replay_command(seed: int, cfg: Config) -> str:
    flags = (" --regions" if cfg.regions else "") + (f" --unsafe-bug {cfg.bug}" if cfg.bug else "")
    if cfg.faults:
        flags += " --faults " + ",".join(cfg.faults)
    if cfg.duration != Config.duration:
        flags += f" --duration {cfg.duration:g}"
    return f"splitbrain simulate --replay {seed}{flags}"


@dataclasses.dataclass
class SearchResult:
    seeds_run: int
    failures: list[tuple[SeedResult, world.Schedule | None, pathlib.Path | None]]
    sim_seconds: float
    wall_seconds: float


def search(cfg: Config, seeds: int, first_seed: int = 0, budget: float | None = None, out: pathlib.Path | None = None,
           shrink_failures: bool = True, stop_at_first: bool = False, progress=None) -> SearchResult:
    """Run seeds first_seed.. until `seeds` ran or `budget` wall seconds passed; each failure kept
    (a run directory under `out`) and shrunk."""
    t0 = time.monotonic()
    sim = 0.0
    done = 0
    failures = []
    last_line = 0.0
    for seed in range(first_seed, first_seed + seeds):
        if budget is not None and done and time.monotonic() - t0 >= budget:
            break
        r = run_seed(seed, cfg)
        done += 1
        sim += r.outcome.sim_seconds
        if r.failed:
            if progress:
                progress(f"seed {seed}: FAILED: {r.reasons[0]}")
            small = shrink(r, cfg, progress) if shrink_failures else None
            path = write_run_dir(out, r, cfg, small) if out is not None else None
            failures.append((r, small, path))
        now = time.monotonic()
        if progress and (now - last_line >= 2.0 or r.failed or done == seeds):
            last_line = now
            wall = now - t0
            progress(f"{done} seeds, {len(failures)} failed, {sim / wall:.0f} simulated s per wall s, "
                     f"{done / wall * 60:.0f} seeds/min")
        if failures and stop_at_first:
            break
    return SearchResult(done, failures, sim, time.monotonic() - t0)


def stderr_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
