"""`splitbrain run`: any system x workload x nemesis x backend, checked and reported."""
from __future__ import annotations

import argparse
import dataclasses

HELP = "run a workload against a cluster under a nemesis, check the history and write a report"

# RunConfig fields whose flag is not the field itself (a list to parse, or a repeated KEY=VALUE)
_PARSED = ("nemesis", "endpoints", "backend_options")


def add_arguments(p: argparse.ArgumentParser) -> None:
    import workloads
    from nemesis import backends
    from nemesis.schedule import MODES

    from splitbrain import faultplan, systems

    S = argparse.SUPPRESS  # absent flags stay absent, so --config values survive; each dest is a RunConfig field
    p.add_argument("--config", metavar="FILE", help="a config.json from an earlier run (flags override it)")
    p.add_argument("--system", default=S, metavar="NAME|FILE",
                   help=f"{' | '.join(systems.names())} | path/to/system.toml "
                        "(default reference-kv; see docs/testing-your-system.md)")
    p.add_argument("--endpoints", default=S, metavar="HOST:PORT,...",
                   help="check a cluster the suite does not run (no faults: use --nemesis none)")
    p.add_argument("--workload", default=S, help=f"{' | '.join(workloads.names())} (default register)")
    p.add_argument("--nemesis", default=S, metavar="LIST",
                   help="comma-separated faults or families, or none (default partition,kill,pause). "
                        f"Families and their faults: {faultplan.help_text()}")
    p.add_argument("--nemesis-mode", default=S, dest="nemesis_mode", choices=MODES,
                   help="sequential: one fault at a time (default); combined: one stream of faults per lane "
                        "(links, nodes, clock, disk, membership), overlapping, as Jepsen's combined nemesis")
    p.add_argument("--backend", default=S, help=f"{' | '.join(backends.NAMES)} (default local)")
    p.add_argument("--nodes", type=int, default=S, help="cluster size (default 3, or the size the system runs)")
    p.add_argument("--time", type=float, default=S, metavar="S", help="seconds of load (default 60)")
    p.add_argument("--concurrency", type=int, default=S, metavar="C", help="client users (default 10)")
    p.add_argument("--rate", type=float, default=S, metavar="R", help="target ops/s (default: unthrottled)")
    p.add_argument("--read-mode", default=S, dest="read_mode",
                   help=f"the system's read mode, its default first: {systems.read_modes_help()} "
                        "(an -unsafe mode is UNSAFE)")
    p.add_argument("--seed", type=int, default=S, help="seed of workload and schedule (default 0)")
    p.add_argument("--keys", type=int, default=S,
                   help="keys in play at a time (default 8; 1000 for kv with --region-split-size)")
    p.add_argument("--value-size", type=int, default=S, dest="value_size", metavar="N",
                   help="kv workload: bytes per value (default 16; with --region-split-size about "
                        "8 split sizes over all keys, at most 4096)")
    p.add_argument("--nemesis-interval", type=float, default=S, dest="nemesis_interval", metavar="S")
    p.add_argument("--fault-duration", type=float, default=S, dest="fault_duration", metavar="S")
    p.add_argument("--quiet", type=float, default=S, metavar="S", help="calm seconds after the final heal")
    p.add_argument("--snapshot-every", type=int, default=S, dest="snapshot_every", metavar="N")
    p.add_argument("--unsafe-bug", default=S, dest="unsafe_bug", metavar="NAME",
                   help="plant a known bug in the reference KV (see `splitbrain bugs`)")
    p.add_argument("--region-split-size", default=S, dest="region_split_size", metavar="SIZE",
                   help="reference KV as multi-Raft Regions that split above SIZE (256KiB, 1MiB, 64MiB)")
    p.add_argument("--check-timeout", type=float, default=S, dest="check_timeout", metavar="S")
    p.add_argument("--out", default=S, metavar="DIR", help="where run directories go (default results/)")
    p.add_argument("--backend-option", action="append", default=S, dest="backend_option", metavar="KEY=VALUE",
                   help="an option of the backend, repeatable (ssh: hosts=root@h1,root@h2 key_file=... "
                        "known_hosts=...); VALUE is JSON when it parses as JSON, else a string")


def config_from_args(args, base=None):
    from splitbrain.config import RunConfig, parse_nemesis

    cfg = RunConfig.from_file(args.config) if getattr(args, "config", None) else (base or RunConfig())
    for f in dataclasses.fields(RunConfig):
        if f.name not in _PARSED and hasattr(args, f.name):
            setattr(cfg, f.name, getattr(args, f.name))
    if hasattr(args, "nemesis"):
        cfg.nemesis = parse_nemesis(args.nemesis)
    for item in getattr(args, "backend_option", ()):
        key, value = _key_value(item)
        cfg.backend_options = {**cfg.backend_options, key: value}
    if hasattr(args, "endpoints"):
        cfg.endpoints = tuple(e.strip() for e in args.endpoints.split(",") if e.strip())
        if not hasattr(args, "nemesis"):
            cfg.nemesis = ()  # the default faults cannot reach an external cluster
    return cfg.validate()


def _key_value(item: str):
    import json

    from splitbrain.errors import UsageError

    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"--backend-option {item!r}: expected KEY=VALUE")
    try:
        return key.strip(), json.loads(raw)
    except ValueError:
        return key.strip(), raw


def run(args) -> int:
    from splitbrain.campaign import execute

    return execute(config_from_args(args))
