"""`python -m bench.kv`: the reference KV side by side with etcd and PySyncObj.

Three nodes of each system on loopback, one system at a time, the same
client load (fixed concurrency from several client processes, plain
keep-alive sockets). Prints throughput and P50/P99 latency per operation and
read mode (median of repeats, with the spread), a fixed-rate ReadIndex vs
log-read comparison, election time (SIGKILL the leader, poll /status every
5 ms) and client recovery time, then PASS/FAIL per target and a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import machine
from bench.kv import failover
from bench.kv.load import LoadSpec, run_load
from bench.kv.stats import median, percentile, ratio, spread
from bench.kv.systems import Etcd, RefKV, SyncObjKV


def _args(argv):
    p = argparse.ArgumentParser(prog="python -m bench.kv", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="short run (about 2 minutes)")
    p.add_argument("--duration", type=float, help="seconds per throughput measurement")
    p.add_argument("--repeats", type=int, help="repeats of each throughput measurement")
    p.add_argument("--trials", type=int, help="leader kills per system")
    p.add_argument("--concurrency", type=int, default=16, help="client threads (one request in flight each)")
    p.add_argument("--processes", type=int, default=4, help="client processes the threads are spread over")
    p.add_argument("--rate-share", type=float, default=0.3,
                   help="fixed-rate comparison at this share of the closed-loop log-read throughput")
    p.add_argument("--work-dir", type=Path, default=None, help="where the nodes keep their data (default: a temp dir)")
    p.add_argument("--json", type=Path, default=None, help="also write all figures to this file")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    a = p.parse_args(argv)
    # at least 3 runs even when quick: a ratio is printed with its spread over the runs
    for name, quick, full in (("duration", 2.0, 5.0), ("repeats", 3, 3), ("trials", 8, 20)):
        if getattr(a, name) is None:
            setattr(a, name, quick if a.quick else full)
    for name in ("duration", "repeats", "trials", "concurrency", "processes", "rate_share"):
        if getattr(a, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if shutil.which("etcd") is None:
        p.error("etcd is not on PATH (Debian: apt-get install etcd-server)")
    return a


class Bench:
    def __init__(self, args):
        self.a = args
        self.results: dict[str, dict] = {"load": {}, "fixed_rate": {}, "failover": {}, "loadavg": {}}

    def log(self, msg: str) -> None:
        print(msg, flush=True)

    # --- load -------------------------------------------------------------------------
    def measure(self, cluster, op: str, mode: str | None, rate: float | None = None) -> dict:
        runs = []
        for r in range(self.a.repeats):
            # On a busy machine a starved node can lose its lease: aim at whoever leads now.
            leader = cluster.wait_stable()
            targets = ([cluster.client[i] for i in cluster.ids] if mode in cluster.any_node_modes
                       else [cluster.client[leader]])
            spec = LoadSpec(op, mode, targets, concurrency=self.a.concurrency, processes=self.a.processes,
                            duration=self.a.duration, rate=rate, tag=f"{op[0]}{r}")
            res = run_load(cluster, spec)
            runs.append({"throughput": res.throughput, "errors": res.errors,
                         "p50_ms": percentile(res.latencies, 0.5) * 1000,
                         "p99_ms": percentile(res.latencies, 0.99) * 1000,
                         "client_cores": res.client_cpu / res.window})
        out = {
            "throughput": median([x["throughput"] for x in runs]),
            "throughput_spread": spread([x["throughput"] for x in runs]),
            "p50_ms": median([x["p50_ms"] for x in runs]), "p99_ms": median([x["p99_ms"] for x in runs]),
            "p99_spread": "-".join(f"{v:.1f}" for v in (min(x["p99_ms"] for x in runs),
                                                        max(x["p99_ms"] for x in runs))),
            "errors": sum(x["errors"] for x in runs), "client_cores": median([x["client_cores"] for x in runs]),
            "runs": runs,
        }
        what = f"{op}" + (f" {mode}" if mode else "") + (f" @{rate:.0f}/s" if rate else "")
        self.log(f"  {cluster.name:<12} {what:<24} {out['throughput']:8.0f} ops/s ({out['throughput_spread']})"
                 f"  p50 {out['p50_ms']:6.2f} ms  p99 {out['p99_ms']:7.2f} ms ({out['p99_spread']})"
                 f"  errors {out['errors']}  client {out['client_cores']:.2f} cores")
        return out

    def warm(self, cluster, leader: int) -> None:
        """Writes every key (so reads find values) and warms caches and connections."""
        run_load(cluster, LoadSpec("write", None, [cluster.client[leader]], concurrency=self.a.concurrency,
                                   processes=self.a.processes, duration=1.5, tag="warm"))

    def system(self, cluster, fixed_rate: bool = False, trials: int = 0, recovery: bool = False) -> None:
        self.log(f"\n== {cluster.name}: starting 3 nodes (load average {_loadavg()})")
        self.results["loadavg"][cluster.name] = {"before": os.getloadavg()}
        try:
            leader = cluster.start_all()
            self.warm(cluster, leader)
            load = self.results["load"].setdefault(cluster.name, {})
            if cluster.name != "refkv-lease":
                load["write"] = self.measure(cluster, "write", None)
            for mode in cluster.read_modes:
                load[f"read {mode}"] = self.measure(cluster, "read", mode)
            if fixed_rate:
                self.fixed_rate(cluster, load)
            if trials:
                self.failover(cluster, trials, recovery)
        finally:
            self.results["loadavg"][cluster.name]["after"] = os.getloadavg()
            cluster.stop_all()
            self.log(f"  load average after {cluster.name}: {_loadavg()}")

    def fixed_rate(self, cluster, load: dict) -> None:
        # Well below what log reads sustain closed-loop, so neither mode is saturated.
        rate = max(50.0, self.a.rate_share * load["read log"]["throughput"])
        fr = self.results["fixed_rate"]
        fr["rate"] = rate
        for mode in ("readindex", "log"):
            fr[mode] = self.measure(cluster, "read", mode, rate=rate)

    def failover(self, cluster, n: int, recovery: bool) -> None:
        self.log(f"  {cluster.name}: {n} leader kills")
        t = failover.trials(cluster, n, recovery, log=self.log)
        row = {"trials": n, "failed": t.failed, "election_ms": [x * 1000 for x in t.election],
               "recovery_ms": [x * 1000 for x in t.recovery]}
        self.results["failover"][cluster.name] = row
        for what in ("election_ms", "recovery_ms"):
            v = row[what]
            if v:
                self.log(f"    {what[:-3]:<9} median {median(v):6.0f} ms  p99 {percentile(v, 0.99):6.0f} ms"
                         f"  min {min(v):.0f}  max {max(v):.0f}  (n={len(v)})")

    # --- run ---------------------------------------------------------------------------
    def run(self) -> int:
        a = self.a
        root = Path(tempfile.mkdtemp(prefix="bench-kv-", dir=a.work_dir))
        info = machine.describe(root)
        self.results["machine"] = info
        self.results["settings"] = {"concurrency": a.concurrency, "processes": a.processes, "duration_s": a.duration,
                                    "repeats": a.repeats, "trials": a.trials, "quick": a.quick}
        self.log("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
        self.log(f"load: {a.concurrency} client threads in {a.processes} processes, {a.duration:g} s x {a.repeats}"
                 f" per figure; {a.trials} leader kills per system")
        started = time.monotonic()
        try:
            self.system(RefKV(root / "refkv"), fixed_rate=True, trials=a.trials, recovery=True)
            self.system(RefKV(root / "refkv-lease", read_mode="lease"))
            self.system(Etcd(root / "etcd"), trials=a.trials)
            self.system(SyncObjKV(root / "pysyncobj"), trials=0 if a.quick else max(5, a.trials // 4))
            if not a.quick:
                slow = Etcd(root / "etcd-default", heartbeat_ms=100, election_ms=1000)
                self.log(f"\n== {slow.name}: election only")
                try:
                    slow.start_all()
                    self.failover(slow, a.trials, False)
                finally:
                    slow.stop_all()
        finally:
            shutil.rmtree(root, ignore_errors=True)
        self.results["elapsed_s"] = time.monotonic() - started
        ok = self.report()
        if not ok and not a.strict:
            ok = True  # figures are reported either way; --strict makes a FAIL the exit status
        if a.json:
            a.json.write_text(json.dumps(self.results, indent=2, default=str) + "\n")
        return 0 if ok else 1

    # --- report --------------------------------------------------------------------------
    def report(self) -> bool:
        from bench.kv.report import render
        text, ok = render(self.results)
        self.log(text)
        return ok


def _loadavg() -> str:
    """Other work on the machine skews every figure; the log shows how much there was."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main(argv=None) -> int:
    args = _args(argv)
    try:
        return Bench(args).run()
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
