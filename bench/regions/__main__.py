"""`python -m bench.regions`: the Region store on 3 loopback nodes.

1. Throughput: closed-loop writers overwriting keys spread over the key space,
   against (a) the Region store kept at one Region (split size 1GiB) and
   (b) the same store after the same prefill split it into many Regions
   (split size --split-size); the single-group node (`python -m reference_kv`)
   runs the same load as the reference. Ratio many/one per round.
2. Write P99 during splits: writers inserting fresh keys into a store whose
   Regions keep splitting (small split size) vs one that never splits.

Throughput rounds run 2 s of unmeasured warm-up first. Rounds alternate the
configurations so they see the same machine load;
medians and min-max spread over rounds; the machine line first.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from bench import machine
from bench.kv.stats import median, percentile, ratio, spread
from bench.regions.cluster import BenchCluster
from bench.regions.load import prefill, run_writers


def _args(argv):
    p = argparse.ArgumentParser(prog="python -m bench.regions", description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=8.0, help="measured seconds per configuration and round")
    p.add_argument("--writers", type=int, default=6, help="writer processes")
    p.add_argument("--keys", type=int, default=4000, help="keys prefilled for the throughput part")
    p.add_argument("--value-size", type=int, default=256)
    p.add_argument("--split-size", default="64KiB", help="split size of the many-Regions store")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    a = p.parse_args(argv)
    if a.rounds < 1 or a.seconds <= 0 or a.writers < 1 or a.keys < 1 or a.value_size < 1:
        p.error("--rounds, --seconds, --writers, --keys and --value-size must be positive")
    return a


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _throughput_round(a, split: str | None) -> tuple[float, int, int]:
    """split None: the single-group node."""
    with BenchCluster(split is not None, region_split_size=split) as c:
        prefill(c.addresses(), "k", a.keys, a.value_size)
        time.sleep(1.0)  # let the last splits land and leaders settle
        # Warm-up, not measured: the last splits, leader moves and the clients' first route lookups.
        run_writers(c.addresses(), "k", a.writers, 2.0, keys=a.keys, value_size=a.value_size)
        regions = c.regions()
        ops, errors, _ = run_writers(c.addresses(), "k", a.writers, a.seconds, keys=a.keys, value_size=a.value_size)
    return ops, errors, regions


def _latency_round(a, split: str) -> tuple[float, float, int, float]:
    with BenchCluster(True, region_split_size=split) as c:
        ops, errors, lat = run_writers(c.addresses(), "f", a.writers, a.seconds, value_size=a.value_size, fresh=True)
        regions = c.regions()
    return percentile(lat, 0.99) * 1000, percentile(lat, 0.5) * 1000, regions, ops


def main(argv=None) -> int:
    a = _args(argv)
    print(f"machine: {machine.line()}")
    thr = {"one": [], "many": [], "single": []}
    regions = {"one": [], "many": []}
    lat = {"splits": [], "none": []}
    p50 = {"splits": [], "none": []}
    grown = []
    for r in range(a.rounds):
        for name, split in (("one", "1GiB"), ("many", a.split_size), ("single", None)):
            ops, errors, n = _throughput_round(a, split)
            thr[name].append(ops)
            if name in regions:
                regions[name].append(n)
            _log(f"round {r + 1} throughput {name}: {ops:.0f} writes/s, {errors} errors, {n} regions")
        for name, split in (("splits", a.split_size), ("none", "1GiB")):
            p99, med, n, ops = _latency_round(a, split)
            lat[name].append(p99)
            p50[name].append(med)
            if name == "splits":
                grown.append(n)
            _log(f"round {r + 1} latency {name}: p99 {p99:.1f} ms, p50 {med:.1f} ms, {n} regions, {ops:.0f} writes/s")
    thr_ratio = [ratio(m, o) for m, o in zip(thr["many"], thr["one"])]
    lat_ratio = [ratio(s, n) for s, n in zip(lat["splits"], lat["none"])]
    print(f"3 nodes, {a.writers} writer processes, {a.value_size}-byte values, {a.rounds} rounds x {a.seconds:.0f} s"
          f"; median (min-max)")
    print()
    print("| measure | configuration | median | spread | ratio (median of per-round ratios) |")
    print("|---|---|---|---|---|")
    print(f"| writes/s, {a.keys} keys overwritten | 1 Region (split 1GiB) | {median(thr['one']):.0f} | "
          f"{spread(thr['one'])} | 1.00 |")
    print(f"| writes/s, {a.keys} keys overwritten | {median(regions['many']):.0f} Regions (split {a.split_size}) | "
          f"{median(thr['many']):.0f} | {spread(thr['many'])} | {median(thr_ratio):.2f} many/one |")
    single_ratio = median([ratio(s, o) for s, o in zip(thr["single"], thr["one"])])
    print(f"| writes/s, {a.keys} keys overwritten | single-group node (reference) | {median(thr['single']):.0f} | "
          f"{spread(thr['single'])} | {single_ratio:.2f} single/one |")
    print(f"| write P99 ms, fresh keys | splitting (split {a.split_size}, ends at {median(grown):.0f} Regions) | "
          f"{median(lat['splits']):.1f} | {min(lat['splits']):.1f}-{max(lat['splits']):.1f} | "
          f"{median(lat_ratio):.2f} splitting/none |")
    print(f"| write P99 ms, fresh keys | no splits (split 1GiB) | {median(lat['none']):.1f} | "
          f"{min(lat['none']):.1f}-{max(lat['none']):.1f} | 1.00 |")
    print(f"| write P50 ms, fresh keys | splitting / no splits | "
          f"{median(p50['splits']):.1f} / {median(p50['none']):.1f} | | "
          f"{ratio(median(p50['splits']), median(p50['none'])):.2f} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": machine.line(), "throughput": thr, "regions": regions, "p99_ms": lat,
                       "p50_ms": p50, "regions_after_split_load": grown, "args": vars(a)}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
