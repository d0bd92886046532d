"""Checker vs Porcupine (Go) on the same corpus files, in one run.

Both sides time the same thing: parse + check of each file in a warm process,
REPEATS times; ours also once per file from a cold `splitbrain check` process.
Verdicts must agree with each other and with expected.json (exit 1 if not).
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
CORPUS = pathlib.Path(os.environ.get("SPLITBRAIN_CORPUS", REPO.parent / "shared" / "corpus"))
SETS = [("jepsen-etcd", "jepsen-log", "cas-register"), ("porcupine-kv", "porcupine-kv", "kv")]


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")) / 2**20
    except OSError:
        mem = float("nan")
    return f"{cpu}, {os.cpu_count()} cores, {mem:.1f} GiB RAM, Python {platform.python_version()}"


def corpus():
    files = []
    for sub, fmt, model in SETS:
        expected = json.loads((CORPUS / sub / "expected.json").read_text())
        for p in sorted((CORPUS / sub).iterdir()):
            if p.name != "expected.json":
                files.append((fmt, model, str(p), expected.get(p.name)))
    return files


def run_harness(cmd) -> tuple[dict, int]:
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO).stdout
    times, valid, peak = {}, {}, 0
    for line in out.splitlines():
        rec = json.loads(line)
        if "peak_rss_kib" in rec:
            peak = rec["peak_rss_kib"]
            continue
        times.setdefault(rec["file"], []).append(rec["seconds"])
        valid[rec["file"]] = rec["valid"]
    return {"times": times, "valid": valid}, peak


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.checker", description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    files = corpus()
    print(f"machine: {machine()}")
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    binary = out / "porcupine-bench"
    subprocess.run(["go", "build", "-o", str(binary), "."], check=True, cwd=HERE / "porcupine")
    specs = [f"{fmt}:{path}" for fmt, _, path, _ in files]
    porc, porc_peak = run_harness([str(binary), str(args.repeats), *specs])
    ours, ours_peak = run_harness([sys.executable, "-m", "bench.checker.ours", str(args.repeats), *specs])

    cold, cold_valid = {}, {}
    exe = pathlib.Path(sys.executable).with_name("splitbrain")
    for fmt, model, path, _ in files:
        t0 = time.perf_counter()
        p = subprocess.run([str(exe), "check", "--format", fmt, "--model", model, "--json", path],
                           capture_output=True, text=True)
        cold[path] = time.perf_counter() - t0
        cold_valid[path] = json.loads(p.stdout)["valid"] if p.returncode in (0, 1, 3) else f"exit {p.returncode}"

    disagreements = []
    print(f"\n{'file':<16}{'expected':>9}{'ours':>8}{'porc':>8}{'ours ms':>10}{'porc ms':>10}{'ratio':>8}{'cold ms':>10}")
    for fmt, model, path, exp in files:
        o, q = statistics.median(ours["times"][path]), statistics.median(porc["times"][path])
        vo, vp, vc = ours["valid"][path], porc["valid"][path], cold_valid[path]
        flag = ""
        if vo != vp or vo != vc or (exp is not None and vo != exp):
            flag = "  <-- DISAGREEMENT"
            disagreements.append((path, exp, vo, vp, vc))
        print(f"{pathlib.Path(path).name:<16}{str(exp):>9}{str(vo):>8}{str(vp):>8}{o * 1e3:>10.2f}{q * 1e3:>10.2f}"
              f"{o / q if q else float('nan'):>8.2f}{cold[path] * 1e3:>10.1f}{flag}")

    # Totals per repetition (file sums), so the spread is that of whole-corpus runs.
    ours_tot = [sum(ours["times"][p][r] for _, _, p, _ in files) for r in range(args.repeats)]
    porc_tot = [sum(porc["times"][p][r] for _, _, p, _ in files) for r in range(args.repeats)]
    ratios = [a / b for a, b in zip(ours_tot, porc_tot)]
    per_file = [statistics.median(ours["times"][p]) / statistics.median(porc["times"][p]) for _, _, p, _ in files
                if statistics.median(porc["times"][p]) > 0]
    print(f"\nwarm totals over {args.repeats} runs: ours median {statistics.median(ours_tot):.3f} s "
          f"[{min(ours_tot):.3f}..{max(ours_tot):.3f}], porcupine median {statistics.median(porc_tot):.3f} s "
          f"[{min(porc_tot):.3f}..{max(porc_tot):.3f}]")
    print(f"ratio ours/porcupine per run: median {statistics.median(ratios):.2f} [{min(ratios):.2f}..{max(ratios):.2f}]; "
          f"per file: median {statistics.median(per_file):.2f} [{min(per_file):.2f}..{max(per_file):.2f}]")
    print(f"ours from cold `splitbrain check` processes (one per file): total {sum(cold.values()):.2f} s")
    print(f"peak memory: ours {ours_peak / 1024:.1f} MiB, porcupine {porc_peak / 1024:.1f} MiB")
    if disagreements:
        print(f"\n!!! {len(disagreements)} VERDICT DISAGREEMENT(S) (file, expected, ours, porcupine, ours cold):")
        for d in disagreements:
            print("!!!", *d)
    print(f"checker corpus: ours {statistics.median(ours_tot):.3f} s, porcupine {statistics.median(porc_tot):.3f} s, "
          f"ratio {statistics.median(ratios):.2f}")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
