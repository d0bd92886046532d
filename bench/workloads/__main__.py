"""Maximum sustained rate of one Locust process, per client, against a stand-in vs a real cluster.

    python -m bench.workloads [--seconds 4] [--repeats 3] [--users 8] [--systems reference-kv,etcd]

For each client (reference KV, etcd) one unpaced `python -m workloads.run`
process (register workload, history written as in a checked run) drives:
- `stand-in`: bench.workloads.standin, which answers both protocols from a dict, so
  the rate it reaches is the ceiling of the load generator itself;
- `cluster`: a real 3-node cluster (reference KV, or Debian's etcd) on loopback.
Reported per cell: median ops/s and min-max over the repeats, and the load
generator's CPU use (CPU seconds of the Locust process during the load / wall seconds).
The ratio cluster/stand-in says what share of the generator's ceiling the
real system reached: near 1 means the generator, not the system, was the
bottleneck, and the cluster figure is a lower bound only.
Everything runs on one machine: the generator, the stand-in and the cluster
compete for the same cores, as they do in a checked run.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

from bench import machine as bench_machine
from bench.workloads.clusters import etcd_cluster, reference_kv_cluster
from reference_kv.launch import free_ports

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def one_run(system: str, endpoints: list[str], seconds: float, users: int) -> tuple[float, float]:
    """(ops/s, generator CPU share) of one unpaced run."""
    with tempfile.TemporaryDirectory(prefix="bench-workloads-") as tmp:
        config = {"system": system, "endpoints": endpoints, "workload": "register", "users": users,
                  "run_time": seconds, "keys": 8, "history_path": os.path.join(tmp, "history.jsonl")}
        out = subprocess.run([sys.executable, "-m", "workloads.run", "--config", json.dumps(config)],
                             cwd=REPO, capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise RuntimeError(f"workloads.run exited {out.returncode}:\n{out.stderr[-2000:]}")
    result = json.loads([l for l in out.stdout.splitlines() if l.startswith("result ")][-1][len("result "):])
    # CPU of the load phase only (not Python's and Locust's start-up), from inside the process.
    return result["total"]["requests"] / result["elapsed"], result["cpu_seconds"] / result["elapsed"]


class StandIn:
    def __enter__(self) -> list[str]:
        port = free_ports(1)[0]
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.workloads.standin", "--listen", f"127.0.0.1:{port}"],
                                     cwd=REPO, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self.proc.stderr.readline()
        return [f"127.0.0.1:{port}"]

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def cluster_for(system: str):
    return etcd_cluster(3) if system == "etcd" else reference_kv_cluster(3)


def summarize(samples: list[tuple[float, float]]) -> dict:
    rates = [r for r, _ in samples]
    return {"median": statistics.median(rates), "min": min(rates), "max": max(rates),
            "cpu": statistics.median(c for _, c in samples)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workloads", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--systems", default="reference-kv,etcd")
    args = parser.parse_args(argv)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    for s in systems:
        if s not in ("reference-kv", "etcd"):
            parser.error(f"unknown system {s!r} (reference-kv, etcd)")
    if args.seconds <= 0 or args.repeats < 1 or args.users < 1:
        parser.error("--seconds, --repeats and --users must be positive")

    print(f"machine: {bench_machine.line()}")
    print(f"load: register workload, {args.users} unpaced users in one Locust process, "
          f"{args.seconds:g} s x {args.repeats} repeats, history written\n")
    rows = []
    for system in systems:
        cells = {}
        for target in ("stand-in", "cluster"):
            context = StandIn() if target == "stand-in" else cluster_for(system)
            with context as handle:
                endpoints = handle if target == "stand-in" else handle.endpoints
                one_run(system, endpoints, 1.0, args.users)  # warm-up: imports, connections, leader
                cells[target] = summarize([one_run(system, endpoints, args.seconds, args.users)
                                           for _ in range(args.repeats)])
        rows.append((system, cells))

    header = f"{'client':<13} {'target':<9} {'ops/s median':>12} {'min-max':>15} {'gen CPU':>8} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for system, cells in rows:
        for target in ("stand-in", "cluster"):
            c = cells[target]
            ratio = c["median"] / cells["stand-in"]["median"]
            print(f"{system:<13} {target:<9} {c['median']:>12.0f} {c['min']:>7.0f}-{c['max']:<7.0f} "
                  f"{c['cpu'] * 100:>7.0f}% {ratio:>7.2f}")
    print("\nratio = median ops/s / the same client's median against the stand-in (the generator's ceiling);"
          "\ngen CPU = CPU time of the Locust process / wall time (100% = one core).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
