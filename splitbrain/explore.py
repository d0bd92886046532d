"""Explore: many short seeded runs whose faults, workloads and read modes are drawn at random.

A planted bug is found by the campaign made for it; a bug nobody knows of is
found the way Jepsen finds them: by mixing fault packages at random over many
runs, overlapping (the combined schedule, `nemesis.schedule.plan_combined`).
Each run is an ordinary `splitbrain run` (campaign.run_campaign) whose config
is drawn here, purely, from the seed and the run's number (`draw`), so every
run repeats with `splitbrain run --config RUN/config.json`. What may be drawn
is asked of the registries that own the names: the faults the backend and the
system can do (campaign.prepare, the fault catalogue), the workloads
(workloads.WORKLOADS) and the system's read modes (without those stale by design).

A violating run is shrunk (`shrink`): rerun with fewer of its faults, the same
seed, until no fault can be dropped and it still fails; the smallest set is
then rerun N times for its reproduction rate.

The explore directory holds `runs/` (each run's own directory), `index.jsonl`
(one line per finished run, appended at once: a run killed half way keeps
what finished), `explore.json` (its parameters and outcome) and the index as
`index.txt` and `index.html`, both rebuilt from the first two (`write_index`,
also by `splitbrain report EXPLORE_DIR`).
"""
from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import random
import sys
import time
from typing import Callable, Sequence

from splitbrain import rundir
from splitbrain.config import RunConfig
from splitbrain.errors import Interrupted, UsageError

INDEX = "index.jsonl"
INDEX_TEXT = "index.txt"
INDEX_HTML = "index.html"
PARAMS = "explore.json"
RUNS = "runs"
RUN_LOG = "runs.log"  # what the runs print (Locust's tables, their progress): the terminal shows explore's lines

MAX_ERRORS = 3  # runs in a row that could not run (a node never ready) before explore gives up, exit 2
MAX_FAULTS = 4  # faults drawn for one run, at most (each lane a stream of them, overlapping)
INTERVALS = (1.0, 1.5, 2.0, 3.0)  # seconds between the faults of one lane
DURATIONS = (0.5, 1.0, 2.0, 3.0)  # seconds each fault lasts


@dataclasses.dataclass(frozen=True)
class Space:
    """What explore draws from: fault package names, workloads, read modes (None: the system's default)."""

    faults: tuple[str, ...]
    workloads: tuple[str, ...]
    read_modes: tuple[str | None, ...] = (None,)


def space(base: RunConfig, faults: Sequence[str] = (), workloads: Sequence[str] = (),
          read_modes: Sequence[str] = ()) -> tuple[Space, list[tuple[str, list[str]]]]:
    """The space for `base`'s system and backend, and the faults left out with why (what they need).

    The faults are `faults` (names or families) or every fault in the catalogue; asked of campaign.prepare,
    which refuses a name given explicitly that cannot run here (UsageError) and lists the others."""
    import workloads as wl
    from nemesis.faults import catalogue

    from splitbrain import campaign, systems

    names = tuple(faults) or tuple(p.name for p in catalogue())
    for w in workloads:
        if w not in wl.WORKLOADS:
            raise UsageError(f"unknown workload {w!r} (choose from {', '.join(wl.names())})")
    system = systems.create(base.system, base.system_options())
    modes = tuple(m for m in system.read_modes if m not in system.stale_read_modes)
    for m in read_modes:
        if m not in system.read_modes:
            raise UsageError(f"{system.name} has no read mode {m!r} (its read modes: "
                             f"{', '.join(system.read_modes) or 'none'})")
    prepared = campaign.prepare(dataclasses.replace(base, nemesis=names).validate(), strict_faults=bool(faults))
    prepared.cluster.close()
    usable = tuple(dict.fromkeys(p.name for p in prepared.packages))
    if not usable:
        raise UsageError(f"no fault can run on the {base.backend} backend with {system.name}: " +
                         "; ".join(f"{n} needs {', '.join(m)}" for n, m in prepared.refused[:3]))
    return Space(usable, tuple(workloads) or wl.names(), tuple(read_modes) or modes or (None,)), prepared.refused


def draw(sp: Space, base: RunConfig, seed: int, index: int) -> RunConfig:
    """Run `index` of the exploration `seed`: pure, the same config every time."""
    rng = random.Random(f"explore:{seed}:{index}")
    k = rng.randint(1, min(MAX_FAULTS, len(sp.faults)))
    faults = tuple(sorted(rng.sample(sp.faults, k), key=sp.faults.index))
    return dataclasses.replace(base, nemesis=faults, nemesis_mode="combined", workload=rng.choice(sp.workloads),
                               read_mode=rng.choice(sp.read_modes), seed=rng.randrange(2**31),
                               nemesis_interval=rng.choice(INTERVALS), fault_duration=rng.choice(DURATIONS))


def shrink(faults: Sequence[str], fails: Callable[[tuple[str, ...]], bool]) -> tuple[str, ...]:
    """The fewest of `faults` that still fail: none at all, then each alone, then dropping one at a time
    until no single fault can go (1-minimal, as delta debugging ends). `fails(faults)` reruns with those."""
    faults = tuple(faults)
    if not faults or fails(()):
        return ()
    if len(faults) > 1:
        for f in faults:
            if fails((f,)):
                return (f,)
    current = faults
    while len(current) > 2:  # pairs are minimal once no single fault failed
        for f in current:
            fewer = tuple(x for x in current if x != f)
            if fails(fewer):
                current = fewer
                break
        else:
            break
    return current


# --- the index -----------------------------------------------------------------------------------

def row(run: pathlib.Path, cfg: dict, summary: dict, role: str, seconds: float) -> dict:
    """One line of the index: what a reader scans for (faults, verdict, elections, no quorum, unavailability)."""
    started = sorted({e.get("fault") for e in summary.get("nemesis") or []
                      if e.get("phase") == "start" and e.get("fault")})
    return {
        "run": run.name, "role": role, "seed": cfg.get("seed"), "workload": cfg.get("workload"),
        "read_mode": cfg.get("read_mode"), "faults": list(cfg.get("nemesis") or ()), "started": started,
        "valid": summary.get("valid"), "verdict": summary.get("verdict"),
        "ops": (summary.get("ops") or {}).get("ok", 0), "elections": (summary.get("election_ms") or {}).get("count", 0),
        "no_quorum_s": summary.get("no_quorum_s") or 0.0, "unavailable_s": summary.get("unavailable_s") or 0.0,
        "seconds": round(seconds, 1),
    }


def _texts(v) -> bool:
    return type(v) is list and all(type(x) is str for x in v)


def _number(v) -> bool:
    return type(v) in (int, float) and math.isfinite(v)


# What `row` writes, field by field: a line is read back by these kinds, so one of the wrong shape is one
# line naming it (exit 2), never a traceback (exit 1: "violation found") nor a run quietly left out.
ROW_KINDS: dict[str, tuple[str, Callable[[object], bool]]] = {
    "run": ("a run directory's name", lambda v: type(v) is str and v != ""),
    "role": ("a string", lambda v: type(v) is str),
    "seed": ("an integer or null", lambda v: v is None or type(v) is int),
    "workload": ("a string or null", lambda v: v is None or type(v) is str),
    "read_mode": ("a string or null", lambda v: v is None or type(v) is str),
    "faults": ("a list of fault names", _texts),
    "started": ("a list of fault names", _texts),
    "valid": ("true, false, a verdict's word or null", lambda v: v is None or type(v) in (bool, str)),
    "verdict": ("a string or null", lambda v: v is None or type(v) is str),
    "ops": ("an integer", lambda v: type(v) is int),
    "elections": ("an integer", lambda v: type(v) is int),
    "no_quorum_s": ("a finite number", _number),
    "unavailable_s": ("a finite number", _number),
    "seconds": ("a finite number", _number),
    "error": ("a string", lambda v: type(v) is str),  # why the run could not run
}
SHRUNK_KINDS: dict[str, tuple[str, Callable[[object], bool]]] = {
    "from": ("a run directory's name", lambda v: type(v) is str),
    "faults": ("a list of fault names", _texts),
    "reproduced": ("an integer", lambda v: type(v) is int),
    "attempts": ("an integer", lambda v: type(v) is int),
    "config": ("a path", lambda v: type(v) is str),
}


def _checked(obj, kinds: dict, where: str, required=()) -> dict:
    if type(obj) is not dict:
        raise UsageError(f"{where}: not a JSON object")
    for name in required:
        if name not in obj:
            raise UsageError(f"{where}: no \"{name}\"")
    for name, (what, ok) in kinds.items():
        if name in obj and not ok(obj[name]):
            raise UsageError(f"{where}: \"{name}\" must be {what}")
    return obj


def read_params(d: pathlib.Path) -> dict:
    """explore.json ({} when absent), its fields the index reads of their kinds, or UsageError naming it."""
    path = d / PARAMS
    params = rundir.load_json_object(path)
    if "faults" in params and not _texts(params["faults"]):
        raise UsageError(f"{path}: \"faults\" must be a list of fault names")
    if params.get("status") is not None and type(params["status"]) is not str:
        raise UsageError(f"{path}: \"status\" must be a string")
    if "args" in params and type(params["args"]) is not dict:
        raise UsageError(f"{path}: \"args\" must be an object")
    shrunk = params.get("shrunk") or []
    if type(shrunk) is not list:
        raise UsageError(f"{path}: \"shrunk\" must be a list")
    for i, s in enumerate(shrunk):
        _checked(s, SHRUNK_KINDS, f"{path}: shrunk #{i + 1}", required=SHRUNK_KINDS)
    return params


def read_index(d: pathlib.Path) -> tuple[list[dict], str | None]:
    """The runs recorded, and any run directory under runs/ that finished without its line (killed between);
    and the warning naming a torn last line, dropped (a kill while it was written). Any other bad line, or
    a field of the wrong kind, is a UsageError naming it."""
    from checker.history import HistoryError, load

    rows, torn = [], None
    path = d / INDEX
    if path.exists():
        try:
            lines = load(path)
        except HistoryError as e:
            raise UsageError(str(e)) from None
        rows = [_checked(r, ROW_KINDS, lines.where(i), required=("run",)) for i, r in enumerate(lines)]
        torn = lines.torn and lines.torn.describe(path)
    known = {r["run"] for r in rows}
    for run in sorted(p for p in (d / RUNS).glob("*") if p.is_dir() and not p.is_symlink()):
        if run.name not in known and (run / rundir.SUMMARY).exists():
            where = run / rundir.SUMMARY
            summary = rundir.load_json_object(where)
            try:
                r = row(run, rundir.load_config(run), summary, "explore", 0.0)
            except (TypeError, AttributeError):
                raise UsageError(f"{where}: not a run's summary (a field of the wrong kind)") from None
            rows.append(_checked(r, ROW_KINDS, str(where)))
    return rows, torn


def _verdict(r: dict) -> str:
    return {True: "valid", False: "VIOLATION"}.get(r.get("valid"), str(r.get("verdict") or r.get("valid")))


COLUMNS = ("run", "role", "seed", "workload", "read mode", "faults", "ops", "verdict", "elections",
           "no quorum s", "unavailable s")


def _cells(r: dict) -> list[str]:
    return [r["run"], r.get("role", ""), str(r.get("seed")), str(r.get("workload")), str(r.get("read_mode") or "-"),
            ",".join(r.get("faults") or []) or "-", str(r.get("ops", 0)), _verdict(r), str(r.get("elections", 0)),
            f"{r.get('no_quorum_s') or 0:.1f}", f"{r.get('unavailable_s') or 0:.1f}"]


def write_index(d: pathlib.Path) -> list[dict]:
    """index.txt and index.html from index.jsonl (and the run directories), with explore.json's outcome."""
    from splitbrain.report import environment

    rows, torn = read_index(d)
    params = read_params(d)
    table = [list(COLUMNS)] + [_cells(r) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    text = [headline(params, rows)] + ([f"warning: {torn}"] if torn else []) + [""]
    text += ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in table]
    text += [f"shrunk: {line}" for line in shrink_lines(params)]
    (d / INDEX_TEXT).write_text("\n".join(text) + "\n")
    html = environment().get_template("explore.html.j2").render(
        headline=headline(params, rows), columns=COLUMNS, rows=[(r, _cells(r)) for r in rows], runs=RUNS,
        shrunk=shrink_lines(params), params=json.dumps(params.get("args", {}), indent=1, sort_keys=True))
    (d / INDEX_HTML).write_text(html)
    return rows


def headline(params: dict, rows: list[dict]) -> str:
    explored = [r for r in rows if r.get("role") == "explore"]
    bad = [r for r in explored if r.get("valid") is False]
    covered = {f for r in explored for f in r.get("started") or []}
    return (f"{len(explored)} runs, {len(covered)}/{len(params.get('faults') or covered)} faults covered, "
            f"{len(bad)} violation{'s' * (len(bad) != 1)}" + (f" ({params['status']})" if params.get("status") else ""))


def shrink_lines(params: dict) -> list[str]:
    out = []
    for s in params.get("shrunk") or []:
        faults = ", ".join(s["faults"]) or "no fault at all"
        out.append(f"{s['from']}: fails with {faults}; reproduced {s['reproduced']}/{s['attempts']} "
                   f"(rerun: splitbrain run --config {s['config']})")
    return out


# --- running ---------------------------------------------------------------------------------------

@dataclasses.dataclass
class Options:
    budget: float  # seconds of exploring; shrinking comes after it
    seed: int = 0
    keep_going: bool = False
    max_runs: int | None = None
    shrink: bool = True
    tries: int = 2  # runs of one candidate fault set while shrinking: it fails if any of them does
    reproduce: int = 3  # reruns of the shrunk set, for its reproduction rate


class Explorer:
    def __init__(self, d: pathlib.Path, base: RunConfig, sp: Space, opts: Options, refused=(),
                 say: Callable[[str], None] | None = None):
        self.dir, self.base, self.space, self.opts = d, dataclasses.replace(base, out=str(d / RUNS)), sp, opts
        self.say = say or self.say_default
        self.rows: list[dict] = []
        self.errors = 0  # runs in a row that could not run
        self.params = {"seed": opts.seed, "budget_s": opts.budget, "faults": list(sp.faults),
                       "workloads": list(sp.workloads), "read_modes": list(sp.read_modes),
                       "refused": [{"fault": n, "needs": m} for n, m in refused], "shrunk": [], "status": "running",
                       "args": {k: v for k, v in dataclasses.asdict(opts).items()}}
        self.started = time.monotonic()

    @staticmethod
    def say_default(line: str) -> None:
        print(f"[explore] {line}", file=sys.stderr, flush=True)

    def _save(self) -> None:
        rundir.write_json(self.dir / PARAMS, self.params)
        write_index(self.dir)

    def one(self, cfg: RunConfig, role: str) -> dict:
        """One run, its output to runs.log, its line appended to the index at once."""
        from splitbrain.campaign import run_campaign
        from splitbrain.streams import redirected

        t0 = time.monotonic()
        latest = self.dir / RUNS / "latest"
        before = latest.resolve() if latest.is_symlink() else None
        interrupted = 0
        try:
            with open(self.dir / RUN_LOG, "ab") as log, redirected(log.fileno(), 1, 2):
                run, summary, interrupted = run_campaign(cfg.validate())
            r = row(run, cfg.to_json(), summary, role, time.monotonic() - t0)
        except UsageError as e:
            # A run that could not run (a node never ready): recorded with why, and exploring goes on.
            made = latest.resolve() if latest.is_symlink() else None
            run = made if made != before else self.dir / RUNS / f"not-started-{len(self.rows) + 1}"
            r = {**row(run, cfg.to_json(), {}, role, time.monotonic() - t0), "verdict": "error", "error": str(e)}
            self.errors += 1
        else:
            self.errors = 0
        with open(self.dir / INDEX, "a") as fh:
            fh.write(json.dumps(r) + "\n")
        self.rows.append(r)
        if interrupted:
            self.params["status"] = "interrupted"
            self._save()
            raise Interrupted(interrupted)
        return r

    def progress(self, r: dict, cfg: RunConfig) -> None:
        explored = [x for x in self.rows if x["role"] == "explore"]
        covered = {f for x in explored for f in x["started"]}
        bad = sum(x["valid"] is False for x in explored)
        left = max(0.0, self.opts.budget - (time.monotonic() - self.started))
        self.say(f"run {len(explored)}: {_verdict(r)} in {r['seconds']:.0f}s, {cfg.workload}"
                 f"{'/' + cfg.read_mode if cfg.read_mode else ''}, {','.join(cfg.nemesis)} | "
                 f"{len(covered)}/{len(self.space.faults)} faults covered, {bad} violation{'s' * (bad != 1)}, "
                 f"{left / 60:.1f} min left")

    def explore(self) -> list[tuple[RunConfig, dict]]:
        """Runs until the budget (or --max-runs) is spent, or the first violation unless keep_going."""
        self._save()
        found = []
        i = 0
        while time.monotonic() - self.started < self.opts.budget and (
                self.opts.max_runs is None or i < self.opts.max_runs):
            cfg = draw(self.space, self.base, self.opts.seed, i)
            i += 1
            r = self.one(cfg, "explore")
            self.progress(r, cfg)
            self._save()
            if r.get("error"):
                self.say(f"run {r['run']} could not run: {r['error']}")
                if self.errors >= MAX_ERRORS:
                    self.params["status"] = f"stopped: {MAX_ERRORS} runs in a row could not run"
                    self._save()
                    raise UsageError(f"{MAX_ERRORS} runs in a row could not run; the last: {r['error']} "
                                     f"(index: {self.dir / INDEX_TEXT})")
            if r["valid"] is False:
                found.append((cfg, r))
                self.say(f"violation in {self.dir / RUNS / r['run']}; rerun: splitbrain run --config "
                         f"{self.dir / RUNS / r['run'] / rundir.CONFIG}")
                if not self.opts.keep_going:
                    break
        return found

    def shrink_one(self, cfg: RunConfig, r: dict) -> dict:
        def fails(faults: tuple[str, ...]) -> bool:
            for attempt in range(self.opts.tries):
                x = self.one(dataclasses.replace(cfg, nemesis=faults), "shrink")
                self.say(f"shrink: {','.join(faults) or 'no fault'} (try {attempt + 1}): {_verdict(x)}")
                if x["valid"] is False:
                    return True
            return False

        self.say(f"shrinking {r['run']}: {', '.join(cfg.nemesis)}")
        least = shrink(cfg.nemesis, fails)
        final = dataclasses.replace(cfg, nemesis=least)
        reruns = [self.one(final, "reproduce") for _ in range(self.opts.reproduce)]
        failed = [x for x in reruns if x["valid"] is False]
        example = (failed or reruns or [r])[0]
        out = {"from": r["run"], "faults": list(least), "reproduced": len(failed), "attempts": len(reruns),
               "config": str(self.dir / RUNS / example["run"] / rundir.CONFIG)}
        self.say(f"shrunk {r['run']} to {', '.join(least) or 'no fault at all'}: reproduced "
                 f"{len(failed)}/{len(reruns)}")
        return out

    def run(self) -> int:
        """0: the budget ran out with no violation; 1: a violation was found."""
        try:
            found = self.explore()
            if self.opts.shrink:
                for cfg, r in found:
                    self.params["shrunk"].append(self.shrink_one(cfg, r))
                    self._save()
        except KeyboardInterrupt:
            self.params["status"] = "interrupted"
            self._save()
            raise
        self.params["status"] = "violation found" if found else "budget spent, no violation"
        self._save()
        return 1 if found else 0


def new_dir(out: str) -> pathlib.Path:
    """<out>/<time>-explore, created now (explore's own files go there before any run starts); results/latest
    stays the newest run, which is one of the explore's."""
    base = pathlib.Path(out)
    rundir.check_out(base)
    while True:
        d = rundir.fresh(base, "explore")
        try:
            d.parent.mkdir(parents=True, exist_ok=True)
            d.mkdir()
        except FileExistsError:
            continue
        except OSError as e:
            raise UsageError(f"cannot create {d}: {e.strerror or e}") from None
        (d / RUNS).mkdir()
        return d


def is_explore_dir(d: pathlib.Path) -> bool:
    return (d / PARAMS).is_file() or (d / INDEX).is_file()


def names_of(text: str | None) -> tuple[str, ...]:
    """'a, b' -> ('a', 'b'); None or '' -> ()."""
    return tuple(x.strip() for x in (text or "").split(",") if x.strip())
