"""`splitbrain simulate`: the real reference KV in a deterministic simulated world, many seeds."""
from __future__ import annotations

HELP = ("run the real reference KV in a deterministic simulated world over many seeds "
        "(exit 0 no violation, 1 a violation found, 2 unusable input)")

EPILOG = """Each seed is one world: cluster size, workload, read mode, fault schedule, network
delays and every node's randomness are drawn from it, on virtual time (no sockets, no
threads, no sleeps), so a seed replays byte for byte. The nodes (or Region stores with
--regions) are the real reference_kv code on a disk that loses unsynced writes. A seed fails
when an invariant breaks while it runs (two leaders in a term, a committed entry that
changes, replicas that disagree at one applied index, durable state that goes back, a node
that dies of an error, a run that never ends) or its history is not linearizable.

Each failure gets a run directory under --out (history.jsonl, trace.jsonl, simulation.json
with the schedule and the shrunk one, summary.json, report.html) and is shrunk: the fewest
faults and the shortest time that still fail in that seed's world.

exit status: 0 no violation in the seeds run, 1 a violation found, 2 unusable input.

faults: """

from splitbrain import values  # noqa: E402 - light; the world is imported in run()

SEED = values.count(low=0)
DURATION = values.seconds(low=1.0, low_open=False, high=3600.0)


def add_arguments(p) -> None:
    import argparse

    from reference_kv.sim import world

    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG + "; ".join(f"{k} ({v})" for k, v in world.FAULTS.items())
    p.add_argument("--seeds", type=values.COUNT.arg, default=100, metavar="N", help="seeds to run (default 100)")
    p.add_argument("--first-seed", type=SEED.arg, default=0, metavar="S", help="the first seed (default 0)")
    p.add_argument("--budget", type=values.SECONDS.arg, metavar="SECONDS",
                   help="start no seed after this many seconds of wall time")
    p.add_argument("--regions", action="store_true", help="Region stores (multi-Raft) instead of one group")
    p.add_argument("--unsafe-bug", metavar="NAME", help="plant a catalogued bug (splitbrain bugs lists them)")
    p.add_argument("--faults", type=_faults, metavar="F,F", help="draw only these fault kinds (default all)")
    p.add_argument("--duration", type=DURATION.arg, default=20.0, metavar="S",
                   help="virtual seconds of load per seed (default 20)")
    p.add_argument("--out", default="results", metavar="DIR", help="where failures' run directories go")
    p.add_argument("--replay", metavar="SEED|RUN_DIR",
                   help="run one seed (or a failure's run directory) again and print its trace")
    p.add_argument("--shrunk", action="store_true", help="with --replay of a run directory: its shrunk schedule")
    p.add_argument("--no-shrink", action="store_true", help="keep failures as they are (faster)")
    p.add_argument("--stop", action="store_true", help="stop at the first failure")


def _faults(text: str) -> tuple[str, ...]:
    import argparse

    from reference_kv.sim import world

    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    bad = [k for k in kinds if k not in world.FAULTS]
    if bad or not kinds:
        raise argparse.ArgumentTypeError(f"unknown fault {', '.join(bad) or repr(text)}; one of "
                                         f"{', '.join(world.FAULTS)}")
    return kinds


def run(args) -> int:
    import pathlib

    from splitbrain import simulation
    from splitbrain.errors import UsageError

    bug = args.unsafe_bug
    if bug is not None:
        from reference_kv.node import UNSAFE_BUGS

        if bug not in UNSAFE_BUGS:
            raise UsageError(f"unknown bug {bug!r}; one of {', '.join(UNSAFE_BUGS)}")
    cfg = simulation.Config(regions=args.regions, bug=bug, duration=args.duration, faults=args.faults)
    if args.replay is not None:
        return _replay(args, cfg)
    out = pathlib.Path(args.out)
    print(f"simulate: {args.seeds} seeds from {args.first_seed}, {cfg.label()}, {cfg.duration:g} virtual s each",
          flush=True)
    res = simulation.search(cfg, args.seeds, args.first_seed, args.budget, out, not args.no_shrink, args.stop,
                            simulation.stderr_progress)
    for r, small, path in res.failures:
        print(f"seed {r.seed}: FAILED: {'; '.join(r.reasons)[:400]}")
        sched = small or r.outcome.schedule
        print(f"  {'shrunk to' if small else 'schedule:'} {len(sched.faults)} faults, {sched.duration:g} s "
              f"({sched.nodes} nodes, {sched.workload}, reads {sched.read_mode}):")
        for f in sched.faults:
            print(f"    {f.describe()}")
        for line in simulation.failing_ops(r):
            print(line)
        if path is not None:
            print(f"  run directory: {path}")
        print(f"  replay: {simulation.replay_command(r.seed, cfg)}")
    wall = max(res.wall_seconds, 1e-9)
    print(f"{res.seeds_run} seeds, {len(res.failures)} failed; {res.sim_seconds:.0f} simulated s in {wall:.1f} s "
          f"({res.sim_seconds / wall:.0f}x, {res.seeds_run / wall * 60:.0f} seeds/min)")
    return 1 if res.failures else 0


def _replay(args, cfg) -> int:
    import json
    import pathlib

    from reference_kv.sim import world
    from splitbrain import simulation
    from splitbrain.errors import UsageError

    schedule = None
    target = args.replay
    if target.lstrip("-").isdigit():
        seed = _checked_seed(target)
        if args.shrunk:
            raise UsageError("--shrunk needs the run directory of a failure, not a seed")
    else:
        run_dir = pathlib.Path(target)
        meta_path = run_dir / "simulation.json"
        if not meta_path.is_file():
            raise UsageError(f"--replay takes a seed (a whole number) or a failure's run directory; "
                             f"{target!r} is neither")
        try:
            meta = json.loads(meta_path.read_text())
            seed = int(meta["seed"])
            recorded = simulation.Config(regions=bool(meta["regions"]), bug=meta.get("unsafe_bug"),
                                         duration=float(meta.get("duration") or 20.0),
                                         faults=tuple(meta["faults"]) if meta.get("faults") else None)
            schedule = world.Schedule.from_json(meta["shrunk"] if args.shrunk and meta.get("shrunk")
                                                else meta["schedule"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise UsageError(f"{meta_path}: not a simulation record ({e})") from None
        given = {"--regions": (args.regions, False), "--unsafe-bug": (args.unsafe_bug, None)}
        for flag, (value, default) in given.items():
            mine = recorded.regions if flag == "--regions" else recorded.bug
            if value != default and value != mine:
                raise UsageError(f"{run_dir} is a seed of another configuration ({recorded.label()}); "
                                 f"drop {flag} to replay it as it ran")
        cfg = recorded
    r = simulation.run_seed(seed, cfg, schedule)
    for ev in r.outcome.trace:
        t = "      -" if ev.get("t") is None else f"{ev['t']:7.3f}"
        rest = {k: v for k, v in ev.items() if k not in ("t", "event")}
        print(f"{t} {ev['event']} " + " ".join(f"{k}={v}" for k, v in rest.items()))
    sched = r.outcome.schedule
    print(f"seed {seed} ({cfg.label()}, {sched.nodes} nodes, {sched.workload}, reads {sched.read_mode}): "
          f"{len(r.outcome.history)} history events, {r.outcome.sim_seconds:.1f} simulated s")
    if r.failed:
        print(f"FAILED: {'; '.join(r.reasons)[:600]}")
        for line in simulation.failing_ops(r):
            print(line)
        return 1
    print("no violation")
    return 0


def _checked_seed(text: str) -> int:
    from splitbrain.errors import UsageError

    n = int(text)
    if n < 0:
        raise UsageError(f"a seed is not negative (got {n})")
    return n
