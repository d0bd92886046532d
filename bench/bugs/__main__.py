"""Detection power of the planted-bug campaigns: bug | campaign | detected in k of n seeds | median time.

    python -m bench.bugs [--seeds 10] [--control-seeds K] [--bugs a,b] [--no-controls] [--no-etcd] [--out DIR]
                         [--controls-only] [--first-seed I] [--report DIR]

Per bug and seed, `splitbrain hunt BUG --seed S` (the bug planted) runs until the
checker finds a violation or the campaign's attempts run out; the time to
detection is its wall time. The controls run the same campaign once per seed
(the first K seeds with --control-seeds K) on the safe reference KV and on etcd
(where the campaign's faults can run on its backend: "n/a" where they cannot)
and count violations, which must be zero. Every hunt runs in its own
process; the table and the machine line go to stdout, one JSON line per hunt to
DIR/hunts.jsonl.
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
import time

from bench.machine import describe as machine_line

SEED_STRIDE = 100  # seeds of one hunt's attempts never overlap the next seed's


def hunt(bug: str, seed: int, out: pathlib.Path, *extra: str) -> dict:
    argv = [sys.executable, "-m", "splitbrain", "hunt", bug, "--seed", str(seed), "--out", str(out), "--json", *extra]
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode == 2 or not lines:
        return {"bug": bug, "seed": seed, "error": f"exit {p.returncode}", "found": False, "attempts": []}
    return {**json.loads(lines[-1]), "seed": seed}


def faults_ran(result: dict) -> bool:
    """Whether the hunt's faults could all be injected (a control whose faults failed proves nothing)."""
    for a in result.get("attempts", []):
        try:
            summary = json.loads((pathlib.Path(a["run_dir"]) / "summary.json").read_text())
        except (OSError, ValueError, KeyError):
            return False
        if any(str(e.get("f", "")).endswith("-failed") for e in summary.get("nemesis", [])):
            return False
    return bool(result.get("attempts"))


def _median(xs):
    return f"{statistics.median(xs):.0f} s (min {min(xs):.0f}, max {max(xs):.0f})" if xs else "-"


def found(result: dict) -> bool:
    """The hunt's verdict as its runs' files say now (`splitbrain report RUN` re-judges a run)."""
    verdicts = []
    for a in result.get("attempts", []):
        try:
            verdicts.append(json.loads((pathlib.Path(a["run_dir"]) / "summary.json").read_text()).get("valid"))
        except (OSError, ValueError, KeyError):
            return bool(result.get("found"))
    return False in verdicts


def rows(records: list[dict], names: list[str], controls: bool, etcd: bool) -> list[tuple]:
    """One table row per bug from the hunts' records (those of a finished or an interrupted run)."""
    from splitbrain import bugs

    out = []
    for name in names:
        mine = [r for r in records if r.get("bug") == name]
        hunted = [r for r in mine if r.get("kind") == "bug"]
        safe = [r for r in mine if r.get("kind") == "safe"]
        if not hunted and not safe:
            continue
        times = [r["seconds"] for r in hunted if found(r)]
        etcd_ok = [r for r in mine if r.get("kind") == "etcd" and not r.get("error") and faults_ran(r)]
        overrides = bugs.get(name).campaign.overrides
        nem = ",".join(overrides.get("nemesis", ()))
        knobs = ",".join(f"{k}={v}" for k, v in overrides.items()
                         if k in ("workload", "read_mode", "snapshot_every", "rate", "keys", "concurrency"))
        out.append((name, f"{nem} {knobs}".strip(), f"{len(times)}/{len(hunted)}" if hunted else "-", _median(times),
                    f"{sum(found(r) for r in safe)}/{len(safe)}" if controls else "-",
                    (f"{sum(found(r) for r in etcd_ok)}/{len(etcd_ok)}" if etcd_ok else "n/a")
                    if controls and etcd else "-"))
    return out


def load_line(records: list[dict], what: str = "the hunts") -> str:
    """The machine's 1-minute load average as each of `what` started: what "quiet" or "loaded" meant here."""
    loads = sorted(r["load"] for r in records if isinstance(r.get("load"), (int, float)))
    if not loads:
        return "load average: not recorded"
    return (f"load average (1 min) as {what} started: median {statistics.median(loads):.1f}, "
            f"min {loads[0]:.1f}, max {loads[-1]:.1f} ({os.cpu_count()} cores)")


def print_table(table: list[tuple]) -> None:
    print("\n| bug | campaign | detected (seeds) | median time to detection | safe KV violations | etcd violations |")
    print("|---|---|---|---|---|---|")
    for r in table:
        print("| " + " | ".join(r) + " |")

    def bad(cell):
        return cell not in ("-", "n/a") and not cell.startswith("0/")

    def detected(cell):
        if cell == "-":
            return True  # not hunted in this run (controls only)
        k, n = map(int, cell.split("/"))
        return k * 10 >= 9 * n

    ok = all(detected(r[2]) and not bad(r[4]) and not bad(r[5]) for r in table)
    print(f"\ntarget (every bug in >= 9 of 10 seeds, no control violation): {'met' if ok else 'NOT met'}")


def main(argv=None) -> int:
    from splitbrain import bugs
    from splitbrain.errors import UsageError

    ap = argparse.ArgumentParser(prog="python -m bench.bugs", description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--bugs", default="", help="comma-separated names (default: the whole catalogue)")
    ap.add_argument("--control-seeds", type=int, default=None, metavar="K",
                    help="run the controls on the first K seeds only (default: every seed)")
    ap.add_argument("--no-controls", action="store_true", help="skip the safe-KV and etcd controls")
    ap.add_argument("--no-etcd", action="store_true", help="skip the etcd control")
    ap.add_argument("--controls-only", action="store_true",
                    help="run only the controls (safe KV, etcd) of each seed, not the hunts")
    ap.add_argument("--first-seed", type=int, default=0, metavar="I",
                    help="start at the I-th seed (seeds are I*100, ...): to extend an earlier --out")
    ap.add_argument("--out", default=None, help="keep run directories here (default: a temp dir, removed)")
    ap.add_argument("--report", default=None, metavar="DIR",
                    help="print the table of the hunts recorded in DIR/hunts.jsonl (a kept --out) and exit")
    args = ap.parse_args(argv)
    if args.report:
        path = pathlib.Path(args.report) / "hunts.jsonl"
        try:
            records = [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
        except (OSError, ValueError) as e:
            raise UsageError(f"cannot read {path}: {e}") from None
        names = list(dict.fromkeys(r["bug"] for r in records if r.get("bug")))
        print_table(rows(records, names, any(r.get("kind") == "safe" for r in records),
                         any(r.get("kind") == "etcd" for r in records)))
        print(load_line(records))
        return 0
    chosen = [bugs.get(n) for n in args.bugs.split(",") if n] or list(bugs.CATALOGUE)
    out = pathlib.Path(args.out or tempfile.mkdtemp(prefix="bench-bugs-"))
    out.mkdir(parents=True, exist_ok=True)
    log = open(out / "hunts.jsonl", "a")
    m = machine_line(out)
    print("machine: " + ", ".join(f"{k} {v}" for k, v in m.items() if k != "pysyncobj"), flush=True)
    control_seeds = args.seeds if args.control_seeds is None else min(args.control_seeds, args.seeds)
    records = []

    def record(kind, r, load):
        r = {"kind": kind, **r, "load": round(load, 2)}
        records.append(r)
        log.write(json.dumps(r) + "\n")
        log.flush()

    def hunt_now(kind, *args):
        load = os.getloadavg()[0]
        record(kind, hunt(*args), load)

    if args.controls_only and args.no_controls:
        raise UsageError("--controls-only with --no-controls leaves nothing to run")
    for bug in chosen:
        for i in range(args.first_seed, args.first_seed + args.seeds):
            seed = i * SEED_STRIDE
            t0, load = time.monotonic(), os.getloadavg()[0]
            r = {} if args.controls_only else hunt(bug.name, seed, out / bug.name)
            if r:
                r["wall"] = round(time.monotonic() - t0, 1)
                record("bug", r, load)
            if not args.no_controls and i < args.first_seed + control_seeds:
                hunt_now("safe", bug.name, seed, out / f"{bug.name}-safe", "--safe", "--attempts", "1")
                if not args.no_etcd:
                    hunt_now("etcd", bug.name, seed, out / f"{bug.name}-etcd", "--safe", "--attempts", "1",
                             "--system", "etcd")
            if r:
                print(f"  {bug.name} seed {seed}: {'found' if r.get('found') else 'not found'} "
                      f"({len(r.get('attempts', []))} attempts, {r.get('seconds', 0):.0f}s)", file=sys.stderr,
                      flush=True)
    print_table(rows(records, [b.name for b in chosen], not args.no_controls, not args.no_etcd))
    print(load_line(records))
    if args.out is None:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    from splitbrain.errors import UsageError

    try:
        sys.exit(main())
    except UsageError as e:
        print(f"python -m bench.bugs: error: {e}", file=sys.stderr)
        sys.exit(2)
