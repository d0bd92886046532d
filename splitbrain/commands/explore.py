"""`splitbrain explore`: many short runs with faults drawn at random, combined and overlapping."""
from __future__ import annotations

HELP = ("many short seeded runs whose faults, workloads and read modes are drawn at random, the faults combined "
        "and overlapping; a violating run is shrunk to its fewest faults (exit 0 none found, 1 found, 2 bad input)")


def add_arguments(p):
    from nemesis import backends

    from splitbrain import systems, values

    p.add_argument("--system", default="reference-kv", metavar="NAME|FILE",
                   help=f"{' | '.join(systems.names())} | path/to/system.toml (default reference-kv)")
    p.add_argument("--backend", default="local", help=f"{' | '.join(backends.NAMES)} (default local)")
    p.add_argument("--budget", type=values.DURATION.arg, default=600.0, metavar="TIME",
                   help="how long to explore: 90, 90s, 30m, 2h (default 10m); shrinking a violation comes after")
    p.add_argument("--seed", type=int, default=0, help="seed of the exploration: run i is drawn from (seed, i)")
    p.add_argument("--faults", default=None, metavar="LIST",
                   help="faults or families to draw from (default: every fault this backend and system can do)")
    p.add_argument("--workloads", default=None, metavar="LIST", help="workloads to draw from (default: all)")
    p.add_argument("--read-modes", default=None, dest="read_modes", metavar="LIST",
                   help="read modes to draw from (default: the system's, without those stale by design)")
    p.add_argument("--keep-going", action="store_true", help="explore the whole budget past a violation")
    p.add_argument("--max-runs", type=values.count(1, 1_000_000).arg, default=None, dest="max_runs", metavar="N",
                   help="stop after N runs even with budget left")
    p.add_argument("--run-time", type=values.SECONDS.arg, default=20.0, dest="run_time", metavar="S",
                   help="seconds of load per run (default 20)")
    p.add_argument("--nodes", type=values.count(1, 250).arg, default=None, help="cluster size (default 3)")
    p.add_argument("--concurrency", type=values.count(1, 10_000).arg, default=10, metavar="C",
                   help="client users per run (default 10)")
    p.add_argument("--region-split-size", default=None, dest="region_split_size", metavar="SIZE",
                   help="reference KV as multi-Raft Regions that split above SIZE (256KiB, 1MiB, 64MiB)")
    p.add_argument("--unsafe-bug", default=None, dest="unsafe_bug", metavar="NAME",
                   help="plant a known bug in the reference KV (see `splitbrain bugs`)")
    p.add_argument("--no-shrink", action="store_false", dest="shrink", help="do not shrink a violating run")
    p.add_argument("--shrink-tries", type=values.count(1, 100).arg, default=2, dest="tries", metavar="N",
                   help="runs of each fault set tried while shrinking; it fails if any does (default 2)")
    p.add_argument("--reproduce", type=values.count(1, 1000).arg, default=3, metavar="N",
                   help="reruns of the shrunk fault set for its reproduction rate (default 3)")
    p.add_argument("--out", default="results", metavar="DIR",
                   help="where the explore directory goes (default results/)")


def run(args) -> int:
    import sys

    from splitbrain import explore
    from splitbrain.config import RunConfig

    base = RunConfig(system=args.system, backend=args.backend, time=args.run_time, quiet=2.0,
                     concurrency=args.concurrency, nodes=args.nodes, unsafe_bug=args.unsafe_bug,
                     region_split_size=args.region_split_size, out=args.out).validate()
    sp, refused = explore.space(base, explore.names_of(args.faults), explore.names_of(args.workloads),
                                explore.names_of(args.read_modes))
    d = explore.new_dir(args.out)
    say = explore.Explorer.say_default
    say(f"exploring {base.system} on the {base.backend} backend for {args.budget / 60:.1f} min into {d}: "
        f"{len(sp.faults)} faults, workloads {', '.join(sp.workloads)}, read modes "
        f"{', '.join(m or 'default' for m in sp.read_modes)}")
    for name, missing in refused:
        say(f"fault {name} left out: needs {', '.join(missing)}")
    opts = explore.Options(budget=args.budget, seed=args.seed, keep_going=args.keep_going, max_runs=args.max_runs,
                           shrink=args.shrink, tries=args.tries, reproduce=args.reproduce)
    code = explore.Explorer(d, base, sp, opts, refused).run()
    print((d / explore.INDEX_TEXT).read_text(), end="")
    print(f"index: {d / explore.INDEX_HTML}")
    sys.stdout.flush()
    return code
