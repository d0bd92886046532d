"""How long `splitbrain explore` takes to find each planted bug without the bug's own campaign, beside the
campaign (`splitbrain hunt`) measured in the same run: bug | explore found (seeds) | median time | its hunt.

    python -m bench.explore [--budget 10m] [--seeds 1] [--bugs a,b] [--run-time 10] [--no-hunt]
                            [--no-control] [--out DIR]

Per bug and seed, `splitbrain explore --unsafe-bug BUG --seed S --no-shrink` draws runs until the first
violation or the budget; its time to find is the wall time of its runs up to and including the violating
one. The control explores the safe KV with the same budget once per seed: it must find nothing. One JSON
line per explore and hunt goes to DIR/explore-bench.jsonl; the table, the machine and the load average
as each started go to stdout.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile

from bench.bugs.__main__ import found as hunt_found
from bench.bugs.__main__ import _median, hunt, load_line
from bench.machine import line as machine_line


def explore(out: pathlib.Path, seed: int, budget: str, run_time: float, bug: str | None) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "splitbrain", "explore", "--seed", str(seed), "--budget", budget, "--no-shrink",
            "--run-time", str(run_time), "--out", str(out), *(["--unsafe-bug", bug] if bug else [])]
    load = os.getloadavg()[0]
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dirs = sorted(out.glob("*-explore"))
    rows = []
    if dirs and (dirs[-1] / "index.jsonl").exists():
        rows = [json.loads(ln) for ln in (dirs[-1] / "index.jsonl").read_text().splitlines() if ln.strip()]
    rows = [r for r in rows if r.get("role") == "explore"]
    first = next((i for i, r in enumerate(rows) if r.get("valid") is False), None)
    upto = rows if first is None else rows[:first + 1]
    hit = rows[first] if first is not None else {}
    return {"bug": bug, "seed": seed, "exit": p.returncode, "found": first is not None, "runs": len(upto),
            "seconds": round(sum(r.get("seconds", 0) for r in upto), 1), "load": round(load, 2),
            "violating": {k: hit.get(k) for k in ("run", "workload", "read_mode", "faults")} if hit else None,
            "error": p.stderr.strip().splitlines()[-1] if p.returncode == 2 and p.stderr.strip() else None,
            "dir": str(dirs[-1]) if dirs else None}


def main(argv=None) -> int:
    from splitbrain import bugs, values

    ap = argparse.ArgumentParser(prog="python -m bench.explore", description=__doc__.splitlines()[0])
    ap.add_argument("--budget", default="10m", help="explore budget per bug and seed (default 10m)")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--bugs", default="", help="comma-separated names (default: the whole catalogue)")
    ap.add_argument("--run-time", type=float, default=10.0, help="seconds of load per explore run (default 10)")
    ap.add_argument("--no-hunt", action="store_true", help="skip the bugs' own campaigns")
    ap.add_argument("--no-control", action="store_true", help="skip exploring the safe KV")
    ap.add_argument("--out", default=None, help="keep run directories here (default: a temp dir, removed)")
    args = ap.parse_args(argv)
    values.DURATION.arg(args.budget)  # a budget explore would refuse: refused here, before anything runs
    chosen = [bugs.get(n) for n in args.bugs.split(",") if n] or list(bugs.CATALOGUE)
    out = pathlib.Path(args.out or tempfile.mkdtemp(prefix="bench-explore-"))
    out.mkdir(parents=True, exist_ok=True)
    log = open(out / "explore-bench.jsonl", "a")
    print(f"machine: {machine_line()}", flush=True)
    records = []

    def record(kind: str, r: dict) -> dict:
        r = {"kind": kind, **r}
        records.append(r)
        log.write(json.dumps(r) + "\n")
        log.flush()
        return r

    for seed in range(args.seeds):
        if not args.no_control:
            r = record("control", explore(out / f"safe-{seed}", seed, args.budget, args.run_time, None))
            print(f"  safe KV seed {seed}: {r['runs']} runs, {'VIOLATION' if r['found'] else 'no violation'}",
                  file=sys.stderr, flush=True)
        for bug in chosen:
            r = record("explore", explore(out / f"{bug.name}-{seed}", seed, args.budget, args.run_time, bug.name))
            print(f"  {bug.name} seed {seed}: {'found' if r['found'] else 'not found'} after {r['runs']} runs, "
                  f"{r['seconds']:.0f}s (load {r['load']})", file=sys.stderr, flush=True)
            if not args.no_hunt:
                load = os.getloadavg()[0]
                h = hunt(bug.name, seed, out / f"{bug.name}-hunt-{seed}")
                record("hunt", {**h, "found": hunt_found(h), "load": round(load, 2)})
    print(f"\nexplore budget {args.budget} per bug and seed, {args.run_time:g} s of load per run, {args.seeds} seed(s)")
    print("| bug | explore found (seeds) | explore median time to find | runs | first violating run "
          "| hunt found | hunt median time | explore/hunt |")
    print("|---|---|---|---|---|---|---|---|")
    for bug in chosen:
        ex = [r for r in records if r["kind"] == "explore" and r["bug"] == bug.name]
        hu = [r for r in records if r["kind"] == "hunt" and r.get("bug") == bug.name]
        et = [r["seconds"] for r in ex if r["found"]]
        ht = [r["seconds"] for r in hu if r["found"]]
        first = next((r["violating"] for r in ex if r["found"]), None)
        what = (f"{first['workload']}/{first['read_mode'] or 'default'} {','.join(first['faults'])}"
                if first else "-")
        ratio = f"{statistics.median(et) / statistics.median(ht):.1f}x" if et and ht else "-"
        print(f"| {bug.name} | {len(et)}/{len(ex)} | {_median(et)} | {','.join(str(r['runs']) for r in ex)} | "
              f"{what} | {f'{len(ht)}/{len(hu)}' if hu else '-'} | {_median(ht)} | {ratio} |")
    control = [r for r in records if r["kind"] == "control"]
    if control:
        print(f"\nsafe KV control: {sum(r['found'] for r in control)} violations in {len(control)} explore(s) "
              f"of {sum(r['runs'] for r in control)} runs")
    print(load_line(records, "the explores and hunts"))
    if args.out is None:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    from splitbrain.errors import UsageError

    try:
        sys.exit(main())
    except (argparse.ArgumentTypeError, UsageError) as e:
        print(f"python -m bench.explore: error: {e}", file=sys.stderr)
        sys.exit(2)
