"""Checker vs Porcupine (Go) on the same files, in one run.

Table 1: the corpus. Table 2: generated histories (checker/synth.py) that are
large or hard for the search (many concurrent clients, many ops that never
returned, big kv partitions, planted anomalies) plus histories recorded by
`splitbrain run`, and the 300 small generated histories of the CI test.
Both sides time the same thing: parse + check of each file in a warm process;
the rounds alternate Porcupine and ours, so both see the same machine load.
Ours also once per corpus file from a cold `splitbrain check` process.
Verdicts must agree with each other and with expected.json (exit 1 if not;
a side that gives up on time, "unknown", is reported, not counted).
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time

from bench.checker import harness

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
CORPUS = REPO / "tests" / "data" / "corpus"
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


def hard_set(out: pathlib.Path) -> list[tuple[str, str, str]]:
    """(name, FORMAT, path) of table 2, written to out/."""
    from checker.synth import Spec, dumps, generate

    specs = {
        "reg-20-clients": (Spec(model="cas-register", ops=2000, processes=20, keys=1, values=5, p_info=0.01, p_crash=0), 1),
        "reg-info-unique": (Spec(model="cas-register", ops=1000, processes=10, keys=1, values=0, p_info=0.1, p_crash=0.02), 2),
        "reg-50-keys": (Spec(model="cas-register", ops=20000, processes=20, keys=50, values=5, p_info=0.02), 3),
        "reg-stale-planted": (Spec(model="cas-register", ops=300, processes=10, keys=1, values=0, p_info=0.01,
                               anomaly="stale-read", anomalies=3), 1),
        "kv-1-key-big": (Spec(model="kv", ops=3000, processes=5, keys=1, p_info=0, p_crash=0), 4),
        "kv-info": (Spec(model="kv", ops=1000, processes=5, keys=1, p_info=0.01, p_crash=0), 5),
        "kv-100-keys": (Spec(model="kv", ops=20000, processes=20, keys=100, p_info=0.005), 9),
        "kv-dup-planted": (Spec(model="kv", ops=2000, processes=8, keys=1, p_info=0, anomaly="duplicate-append"), 8),
    }
    files = []
    for name, (spec, seed) in specs.items():
        path = out / f"{name}.jsonl"
        path.write_text(dumps(generate(spec, seed)))
        files.append((name, f"jsonl-{spec.model}", str(path)))
    data = REPO / "tests" / "checker" / "data"
    for name, model in [("run-register-local-unsafe", "cas-register"), ("run-kv", "kv")]:
        path = out / f"{name}.jsonl"
        path.write_bytes(gzip.decompress((data / f"{name}.jsonl.gz").read_bytes()))
        files.append((name, f"jsonl-{model}", str(path)))
    return files


def ci_set(out: pathlib.Path) -> list[str]:
    """FORMAT:PATH of the 300 small generated histories of tests/checker/test_porcupine_diff.py."""
    import importlib.util

    from checker.synth import dumps, generate

    spec = importlib.util.spec_from_file_location("diff_test", REPO / "tests" / "checker" / "test_porcupine_diff.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    d = out / "ci-set"
    d.mkdir(exist_ok=True)
    specs = []
    for seed in mod.SEEDS:
        s = mod.spec_for(seed)
        path = d / f"{seed}.jsonl"
        path.write_text(dumps(generate(s, seed)))
        specs.append(f"jsonl-{s.model}:{path}")
    return specs


def rounds(specs: list[str], repeats: int, timeout: float | None = None):
    """Alternate Porcupine and ours, one run over all specs each per round.
    Returns ({file: [s]}, {file: valid}, peak KiB) per side."""
    ours_cmd = [sys.executable, "-m", "bench.checker.ours"] + ([f"--timeout={timeout}"] if timeout else [])
    acc = {"porc": ({}, {}, 0), "ours": ({}, {}, 0)}
    for _ in range(repeats):
        for side in ("porc", "ours"):
            if side == "porc":
                t, v, peak = harness.porcupine(specs, 1, timeout)
            else:
                out = subprocess.run([*ours_cmd, "1", *specs], check=True, capture_output=True, text=True, cwd=REPO).stdout
                t, v, peak = harness.parse(out)
            times, valid, old = acc[side]
            for f, ts in t.items():
                times.setdefault(f, []).extend(ts)
            valid.update(v)
            acc[side] = (times, valid, max(old, peak))
    return acc["ours"], acc["porc"]


def spread(xs) -> str:
    return f"median {statistics.median(xs):.3f} [{min(xs):.3f}..{max(xs):.3f}]"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.checker", description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--hard-repeats", type=int, default=3, help="rounds of table 2 (default 3)")
    ap.add_argument("--timeout", type=float, default=30.0, help="time limit per check in table 2, both sides (default 30)")
    args = ap.parse_args(argv)
    files = corpus()
    print(f"machine: {machine()}")
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    harness.binary()
    specs = [f"{fmt}:{path}" for fmt, _, path, _ in files]
    (ot, ov, ours_peak), (pt, pv, porc_peak) = rounds(specs, args.repeats)
    ours, porc = {"times": ot, "valid": ov}, {"times": pt, "valid": pv}

    cold, cold_valid = {}, {}
    exe = pathlib.Path(sys.executable).with_name("splitbrain")
    for fmt, model, path, _ in files:
        t0 = time.perf_counter()
        p = subprocess.run([str(exe), "check", "--format", fmt, "--model", model, "--json", path],
                           capture_output=True, text=True)
        cold[path] = time.perf_counter() - t0
        cold_valid[path] = json.loads(p.stdout)["valid"] if p.returncode in (0, 1, 3, 4) else f"exit {p.returncode}"

    disagreements = []
    print(f"\n{'file':<16}{'expected':>9}{'ours':>8}{'porc':>8}{'ours ms':>10}{'porc ms':>10}{'ratio':>8}{'cold ms':>10}")
    for fmt, model, path, exp in files:
        o, q = statistics.median(ours["times"][path]), statistics.median(porc["times"][path])
        vo, vp, vc = ours["valid"][path], porc["valid"][path], cold_valid[path]
        flag = ""
        if vo == "empty" and vp is True:
            vp = "empty"  # no operations: Porcupine calls it linearizable, we call it no evidence
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
    best = [min(ours["times"][p]) / min(porc["times"][p]) for _, _, p, _ in files if min(porc["times"][p]) > 0]
    print(f"per file, best of {args.repeats} runs each side (less sensitive to machine load): median ratio "
          f"{statistics.median(best):.2f} [{min(best):.2f}..{max(best):.2f}]")
    print(f"ours from cold `splitbrain check` processes (one per file): total {sum(cold.values()):.2f} s")
    print(f"peak memory: ours {ours_peak / 1024:.1f} MiB, porcupine {porc_peak / 1024:.1f} MiB")
    corpus_line = (f"checker corpus: ours {statistics.median(ours_tot):.3f} s, porcupine {statistics.median(porc_tot):.3f} s, "
                   f"ratio {statistics.median(ratios):.2f}; per-file median ratio {statistics.median(per_file):.2f} "
                   f"(best-of-runs {statistics.median(best):.2f})")

    # Table 2.
    hard = hard_set(out)
    hspecs = [f"{fmt}:{path}" for _, fmt, path in hard]
    (ht, hv, hpeak_o), (qt, qv, hpeak_p) = rounds(hspecs, args.hard_repeats, args.timeout)
    print(f"\ngenerated and recorded histories ({args.hard_repeats} rounds, time limit {args.timeout:g} s per check "
          f"on both sides; ours timed out = unknown):")
    print(f"{'history':<28}{'ops':>7}{'ours':>9}{'porc':>9}{'ours s':>10}{'porc s':>10}{'ratio':>8}")
    for name, fmt, path in hard:
        n = sum(1 for line in open(path) if '"invoke"' in line)
        o, q = statistics.median(ht[path]), statistics.median(qt[path])
        vo, vp = hv[path], qv[path]
        flag = ""
        if vo != vp and "unknown" not in (vo, vp):
            flag = "  <-- DISAGREEMENT"
            disagreements.append((path, None, vo, vp, None))
        bound = "<" if vp == "unknown" and vo != "unknown" else ""
        print(f"{name:<28}{n:>7}{str(vo):>9}{str(vp):>9}{o:>10.3f}{q:>10.3f}{bound + f'{o / q:.3f}':>8}{flag}")
    cspecs = ci_set(out)
    (ct, cv, _), (dt, dv, _) = rounds(cspecs, args.repeats, 20)
    cpaths = [s.split(":", 1)[1] for s in cspecs]
    c_ours = [sum(ct[p][r] for p in cpaths) for r in range(args.repeats)]
    c_porc = [sum(dt[p][r] for p in cpaths) for r in range(args.repeats)]
    c_ratio = [statistics.median(ct[p]) / statistics.median(dt[p]) for p in cpaths]
    bad = [p for p in cpaths if cv[p] != dv[p]]
    for p in bad:
        disagreements.append((p, None, cv[p], dv[p], None))
    print(f"{'300 small generated (sum)':<28}{'':>7}{'':>9}{'':>9}{statistics.median(c_ours):>10.3f}"
          f"{statistics.median(c_porc):>10.3f}{statistics.median(c_ours) / statistics.median(c_porc):>8.3f}")
    print(f"  300 small generated: totals ours {spread(c_ours)} s, porcupine {spread(c_porc)} s; per-file ratio "
          f"{spread(c_ratio)}; verdicts disagree on {len(bad)}; "
          f"{sum(1 for p in cpaths if cv[p] is False)} not linearizable, {sum(1 for p in cpaths if cv[p] is True)} linearizable")
    print(f"peak memory, table 2: ours {hpeak_o / 1024:.1f} MiB, porcupine {hpeak_p / 1024:.1f} MiB")
    print(corpus_line)
    if disagreements:
        print(f"\n!!! {len(disagreements)} VERDICT DISAGREEMENT(S) (file, expected, ours, porcupine, ours cold):")
        for d in disagreements:
            print("!!!", *d)
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
