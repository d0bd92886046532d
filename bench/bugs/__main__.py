"""Detection power of the planted-bug campaigns: bug | campaign | detected in k of n seeds | median time.

    python -m bench.bugs [--seeds 10] [--control-seeds K] [--bugs a,b] [--no-controls] [--no-etcd] [--out DIR]

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


def main(argv=None) -> int:
    from splitbrain import bugs

    ap = argparse.ArgumentParser(prog="python -m bench.bugs", description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--bugs", default="", help="comma-separated names (default: the whole catalogue)")
    ap.add_argument("--control-seeds", type=int, default=None, metavar="K",
                    help="run the controls on the first K seeds only (default: every seed)")
    ap.add_argument("--no-controls", action="store_true", help="skip the safe-KV and etcd controls")
    ap.add_argument("--no-etcd", action="store_true", help="skip the etcd control")
    ap.add_argument("--out", default=None, help="keep run directories here (default: a temp dir, removed)")
    args = ap.parse_args(argv)
    chosen = [bugs.get(n) for n in args.bugs.split(",") if n] or list(bugs.CATALOGUE)
    out = pathlib.Path(args.out or tempfile.mkdtemp(prefix="bench-bugs-"))
    out.mkdir(parents=True, exist_ok=True)
    log = open(out / "hunts.jsonl", "a")
    m = machine_line(out)
    print("machine: " + ", ".join(f"{k} {v}" for k, v in m.items() if k != "pysyncobj"), flush=True)
    control_seeds = args.seeds if args.control_seeds is None else min(args.control_seeds, args.seeds)
    rows = []
    for bug in chosen:
        found, times, safe_bad, safe_runs, etcd_bad, etcd_runs = 0, [], 0, 0, 0, 0
        for i in range(args.seeds):
            seed = i * SEED_STRIDE
            t0 = time.monotonic()
            r = hunt(bug.name, seed, out / bug.name)
            r["wall"] = round(time.monotonic() - t0, 1)
            log.write(json.dumps({"kind": "bug", **r}) + "\n")
            if r.get("found"):
                found += 1
                times.append(r["seconds"])
            if not args.no_controls and i < control_seeds:
                c = hunt(bug.name, seed, out / f"{bug.name}-safe", "--safe", "--attempts", "1")
                log.write(json.dumps({"kind": "safe", **c}) + "\n")
                safe_runs += 1
                safe_bad += bool(c.get("found"))
                if not args.no_etcd:
                    e = hunt(bug.name, seed, out / f"{bug.name}-etcd", "--safe", "--attempts", "1", "--system", "etcd")
                    log.write(json.dumps({"kind": "etcd", **e}) + "\n")
                    if not e.get("error") and faults_ran(e):
                        etcd_runs += 1
                        etcd_bad += bool(e.get("found"))
            log.flush()
            print(f"  {bug.name} seed {seed}: {'found' if r.get('found') else 'not found'} "
                  f"({len(r.get('attempts', []))} attempts, {r.get('seconds', 0):.0f}s)", file=sys.stderr, flush=True)
        nem = ",".join(bug.campaign.overrides.get("nemesis", ()))
        knobs = ",".join(f"{k}={v}" for k, v in bug.campaign.overrides.items()
                         if k in ("read_mode", "snapshot_every", "keys", "concurrency"))
        rows.append((bug.name, f"{nem} {knobs}".strip(), f"{found}/{args.seeds}", _median(times),
                     "-" if args.no_controls else f"{safe_bad}/{safe_runs}",
                     "-" if args.no_controls or args.no_etcd else
                     (f"{etcd_bad}/{etcd_runs}" if etcd_runs else "n/a")))
    print("\n| bug | campaign | detected (seeds) | median time to detection | safe KV violations | etcd violations |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    ok = all(int(r[2].split("/")[0]) * 10 >= 9 * args.seeds for r in rows)
    print(f"\ntarget (every bug in >= 9 of 10 seeds, no control violation): {'met' if ok else 'NOT met'}")
    if args.out is None:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
