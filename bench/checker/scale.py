"""The checker at scale, against Porcupine in the same run (issue #17).

Table 3: single-key register histories of 10K, 100K and 1M operations, 10-50
processes, 1% indeterminate, each valid and with one planted stale read (a read 60% of the way through returning a
value whose overwriting write completed before the read was called), ours
(`splitbrain check` as a user runs it: parse, check, witness) vs Porcupine (the
Go library on the same JSONL) with the same time limit; a side that gives up
counts as unknown. Porcupine runs with a memory bound (it has none of its own),
so a search that would exhaust the machine ends as "unknown (memory)".

The property run: the unique-value procedure against the WGL search on
generated unique-value histories (the generators of tests/checker/test_unique.py),
reporting the count and every disagreement.

    python -m bench.checker.scale [--timeout 60] [--histories 100000] [--sizes 10000,100000,1000000]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import time

from bench.checker import harness

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
PORCUPINE_MEMORY = 8 * 2**30
SHAPES = {10_000: 10, 100_000: 30, 1_000_000: 30}  # ops -> processes


def load_avg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def histories(out: pathlib.Path, sizes) -> list[tuple[str, pathlib.Path]]:
    from checker.synth import UNIQUE_MIX, Spec, dumps, generate, plant_stale_read

    files = []
    for n in sizes:
        procs = SHAPES.get(n, 30)
        for anomaly in (None, "stale-read"):
            name = f"register-{n // 1000}k-{procs}p-{'stale' if anomaly else 'valid'}"
            path = out / f"{name}.jsonl"
            if not path.exists():
                events = generate(Spec(ops=n, processes=procs, keys=1, values=0, p_info=0.01, p_crash=0,
                                       p_fail=0.01, mix=UNIQUE_MIX, recent=True, nemesis=False), n)
                if anomaly:  # one read of a value certainly overwritten, 60% of the way through
                    events = plant_stale_read(events)
                tmp = path.with_suffix(".tmp")
                tmp.write_text(dumps(events))
                tmp.rename(path)
            files.append((name, path))
    return files


def ours(path, timeout):
    """`splitbrain check --json` in a fresh process: (seconds, verdict, peak RSS MiB)."""
    exe = pathlib.Path(sys.executable).with_name("splitbrain")
    t0 = time.perf_counter()
    p = subprocess.run([str(exe), "check", "--json", "--timeout", str(timeout), str(path)],
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    try:
        verdict = json.loads(p.stdout.splitlines()[0])["valid"]
    except (ValueError, IndexError):
        verdict = f"exit {p.returncode}"
    return wall, verdict, usage


def _limit_porcupine():
    resource.setrlimit(resource.RLIMIT_DATA, (PORCUPINE_MEMORY, PORCUPINE_MEMORY))


def porcupine(path, timeout):
    binary = harness.binary()
    t0 = time.perf_counter()
    p = subprocess.run([str(binary), f"-timeout={timeout}", "1", f"jsonl-cas-register:{path}"],
                       capture_output=True, text=True, preexec_fn=_limit_porcupine)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        why = "memory" if "out of memory" in p.stderr or "cannot allocate" in p.stderr else f"exit {p.returncode}"
        return wall, f"unknown ({why})"
    _, valid, _ = harness.parse(p.stdout)
    return wall, valid.get(str(path), "?")


def scale_table(sizes, timeout, repeats):
    out = HERE / "out" / "scale"
    out.mkdir(parents=True, exist_ok=True)
    print(f"generating single-key register histories {', '.join(f'{n:,}' for n in sizes)} ops ...", flush=True)
    files = histories(out, sizes)
    print(f"\nsingle-key register histories, 1% indeterminate, time limit {timeout:g} s on both sides "
          f"(Porcupine bounded to {PORCUPINE_MEMORY >> 30} GiB); ours = `splitbrain check` wall time incl. "
          f"parsing and the witness; {repeats} run(s) each, median [min..max]")
    print(f"{'history':<30}{'ours':>9}{'porc':>18}{'ours s':>24}{'porc s':>24}{'ratio':>8}{'load':>16}")
    worst = {}
    for name, path in files:
        runs_o, runs_p = [], []
        for _ in range(repeats if "1000k" not in name else 1):
            runs_o.append(ours(path, timeout))
            runs_p.append(porcupine(path, timeout))
        to = [r[0] for r in runs_o]
        tp = [r[0] for r in runs_p]
        vo, vp = runs_o[-1][1], runs_p[-1][1]
        expected = "stale" not in name
        flag = "" if vo is expected else "  <-- WRONG VERDICT"
        fmt = lambda xs: f"{statistics.median(xs):.2f} [{min(xs):.2f}..{max(xs):.2f}]"
        ratio = statistics.median(to) / statistics.median(tp)
        bound = "<" if not isinstance(vp, bool) else ""
        print(f"{name:<30}{str(vo):>9}{str(vp):>18}{fmt(to):>24}{fmt(tp):>24}{bound + f'{ratio:.3f}':>8}"
              f"{load_avg():>16}{flag}", flush=True)
        worst[name] = (statistics.median(to), vo)
    return worst


def property_run(n):
    spec = importlib.util.spec_from_file_location("test_unique", REPO / "tests" / "checker" / "test_unique.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    import checker

    t0 = time.perf_counter()
    wrong, kinds = [], {}
    for seed in range(n):
        model, events = mod.kv_case(seed) if seed % 10 == 9 else mod.register_case(seed)
        a = checker.check(events, model, processes=1, witnesses=False)
        b = checker.check(events, model, processes=1, witnesses=False, method="search")
        for p in a.partitions:
            kinds[(p.method, p.valid)] = kinds.get((p.method, p.valid), 0) + 1
        if a.valid != b.valid:
            wrong.append((seed, model, a.valid, b.valid))
        if seed and seed % 20000 == 0:
            print(f"  {seed:,} histories, {len(wrong)} disagreements, {time.perf_counter() - t0:.0f} s", flush=True)
    print(f"\nproperty run: {n:,} generated unique-value histories (indeterminate ops, failed cas, crashed "
          f"processes, planted anomalies), unique-value procedure vs WGL search: {len(wrong)} disagreements "
          f"in {time.perf_counter() - t0:.0f} s; partitions decided: "
          + ", ".join(f"{m} {v}: {c:,}" for (m, v), c in sorted(kinds.items(), key=str)))
    for w in wrong[:20]:
        print("!!! DISAGREEMENT", *w)
    return len(wrong)


def campaign_history():
    """A failing history of the bug campaigns (local-unsafe reads), decided from a cold process."""
    import gzip

    src = REPO / "tests" / "checker" / "data" / "run-register-local-unsafe.jsonl.gz"
    path = HERE / "out" / "scale" / "campaign-local-unsafe.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.decompress(src.read_bytes()))
    times = []
    for _ in range(3):
        wall, verdict, _ = ours(path, 60)
        times.append(wall)
    print(f"\nfailing bug-campaign history ({sum(1 for l in open(path) if 'invoke' in l):,} ops, local-unsafe "
          f"reads): {verdict}, `splitbrain check` median {statistics.median(times):.2f} s "
          f"[{min(times):.2f}..{max(times):.2f}] incl. interpreter start and witnesses; load {load_avg()}")
    return statistics.median(times), verdict


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.checker.scale", description=__doc__.splitlines()[0])
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--histories", type=int, default=100_000)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    from bench.checker.__main__ import machine

    print(f"machine: {machine()}; load average {load_avg()}")
    sizes = [int(s) for s in args.sizes.split(",") if s]
    results = scale_table(sizes, args.timeout, args.repeats)
    camp_s, camp_v = campaign_history()
    bad = property_run(args.histories)
    ok = True
    for name, (secs, verdict) in results.items():
        if verdict is not ("stale" not in name):
            ok = False
        if "1000k" in name:
            print(f"target: 1M ops decided under 10 s: {name} {secs:.2f} s {'met' if secs < 10 else 'MISSED'} "
                  f"(load {load_avg()})")
    print(f"target: a failing bug-campaign history under 1 s: {camp_s:.2f} s {'met' if camp_s < 1 else 'MISSED'}")
    return 0 if ok and not bad and camp_v is False else 1


if __name__ == "__main__":
    sys.exit(main())
