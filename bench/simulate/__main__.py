"""`python -m bench.simulate`: how fast the simulated world runs the real reference KV, and how
many seeds each planted bug takes to be found.

1. Speed: seeds of a 3-node single group under load and of 3 Region stores, one after the other
   on one core (one process): simulated seconds per wall second (the peer is real time: a real
   run takes 1 s per second) and seeds per minute; medians and min-max over seeds, user CPU
   beside wall time so a loaded machine shows.
2. With --bugs: for each planted bug, --searches searches from different first seeds, each until
   the first failing seed (at most --max-seeds): seeds to detection, median and max.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time

from bench import machine
from bench.kv.stats import median, spread


def _args(argv):
    p = argparse.ArgumentParser(prog="python -m bench.simulate", description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=20, help="seeds per configuration for the speed part")
    p.add_argument("--duration", type=float, default=20.0, help="virtual seconds of load per seed")
    p.add_argument("--bugs", nargs="*", metavar="BUG", help="seeds to detection of these planted bugs (none "
                   "named: all of reference_kv.node.UNSAFE_BUGS)")
    p.add_argument("--searches", type=int, default=10)
    p.add_argument("--max-seeds", type=int, default=1000)
    a = p.parse_args(argv)
    if a.seeds < 1 or a.duration <= 0 or a.searches < 1 or a.max_seeds < 1:
        p.error("--seeds, --duration, --searches and --max-seeds must be positive")
    return a


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def speed(cfg, seeds: int) -> dict:
    from splitbrain import simulation

    ratios, walls, cpu0, t0, sim, failed = [], [], _cpu(), time.perf_counter(), 0.0, 0
    for seed in range(seeds):
        r = simulation.run_seed(seed, cfg)
        o = r.outcome
        ratios.append(o.sim_seconds / o.wall_seconds)
        walls.append(o.wall_seconds)
        sim += o.sim_seconds
        failed += r.failed
        _log(f"  {cfg.label()} seed {seed}: {o.sim_seconds:.1f} simulated s in {o.wall_seconds:.2f} s "
             f"({ratios[-1]:.0f}x), {o.ops} ops{', FAILED' if r.failed else ''}")
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    return {"ratio": median(ratios), "spread": spread(ratios), "seeds_per_min": seeds / wall * 60,
            "cpu_share": cpu / wall, "failed": failed, "sim": sim, "wall": wall}


def detection(bug: str, searches: int, max_seeds: int, duration: float) -> list[int | None]:
    from splitbrain import simulation

    cfg = simulation.Config(bug=bug, duration=duration)
    found = []
    for k in range(searches):
        first = 100_000 * (k + 1)
        res = simulation.search(cfg, max_seeds, first, shrink_failures=False, stop_at_first=True)
        found.append(res.seeds_run if res.failures else None)
        _log(f"  {bug} search {k + 1}: {'found after ' + str(res.seeds_run) if res.failures else 'not found in ' + str(max_seeds)} seeds")
    return found


def main(argv=None) -> int:
    from reference_kv.node import UNSAFE_BUGS
    from splitbrain import simulation

    a = _args(argv)
    print(f"machine: {machine.line()}; pid {os.getpid()} on one core", flush=True)
    one = speed(simulation.Config(duration=a.duration), a.seeds)
    many = speed(simulation.Config(regions=True, duration=a.duration), a.seeds)
    print(f"\n{a.seeds} seeds each, {a.duration:g} virtual s of load per seed (plus forming and 2 s of settling); "
          f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
    print("| world | simulated s per wall s, median (min-max) | seeds/min | CPU share of wall | failed | ratio |")
    print("|---|---|---|---|---|---|")
    for name, r in (("3-node single group", one), ("3 Region stores", many)):
        print(f"| {name} | {r['ratio']:.0f}x ({r['spread']}) | {r['seeds_per_min']:.0f} | {r['cpu_share']:.2f} | "
              f"{r['failed']} | {r['ratio'] / one['ratio']:.2f} |")
    if a.bugs is not None:
        bugs = a.bugs or list(UNSAFE_BUGS)
        print("\n| planted bug | found in searches | seeds to detection, median | max |")
        print("|---|---|---|---|")
        for bug in bugs:
            found = detection(bug, a.searches, a.max_seeds, a.duration)
            hits = sorted(n for n in found if n is not None)
            print(f"| {bug} | {len(hits)}/{len(found)} | {median(hits) if hits else '-'} | "
                  f"{max(hits) if hits else '-'} |", flush=True)
    return 1 if one["failed"] or many["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
