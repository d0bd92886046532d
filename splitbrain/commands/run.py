"""`splitbrain run`: any system x workload x nemesis x backend, checked and reported."""
from __future__ import annotations

import argparse

HELP = "run a workload against a cluster under a nemesis, check the history and write a report"

# flag -> RunConfig field, for options that override a --config file only when given.
_FIELDS = {
    "system": "system", "workload": "workload", "backend": "backend", "nodes": "nodes", "time": "time",
    "concurrency": "concurrency", "rate": "rate", "read_mode": "read_mode", "seed": "seed", "keys": "keys",
    "nemesis_interval": "nemesis_interval", "fault_duration": "fault_duration", "quiet": "quiet",
    "out": "out", "snapshot_every": "snapshot_every", "unsafe_bug": "unsafe_bug",
    "check_timeout": "check_timeout", "region_split_size": "region_split_size",
    "value_size": "value_size",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    S = argparse.SUPPRESS  # absent flags stay absent, so --config values survive
    p.add_argument("--config", metavar="FILE", help="a config.json from an earlier run (flags override it)")
    p.add_argument("--system", default=S, metavar="NAME|FILE",
                   help="reference-kv | etcd | path/to/system.toml (default reference-kv; see docs/testing-your-system.md)")
    p.add_argument("--endpoints", default=S, metavar="HOST:PORT,...",
                   help="check a cluster the suite does not run (no faults: use --nemesis none)")
    p.add_argument("--workload", default=S, help="register | kv | reads (default register)")
    p.add_argument("--nemesis", default=S, metavar="LIST",
                   help="comma-separated faults, or none (default partition,kill,pause)")
    p.add_argument("--backend", default=S, help="local | netns | docker | ssh (default local)")
    p.add_argument("--nodes", type=int, default=S, help="cluster size (default 3)")
    p.add_argument("--time", type=float, default=S, metavar="S", help="seconds of load (default 60)")
    p.add_argument("--concurrency", type=int, default=S, metavar="C", help="client users (default 10)")
    p.add_argument("--rate", type=float, default=S, metavar="R", help="target ops/s (default: unthrottled)")
    p.add_argument("--read-mode", default=S, dest="read_mode",
                   help="reference KV read mode: readindex | lease | log | follower | local-unsafe (UNSAFE)")
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
    for flag, field in _FIELDS.items():
        if hasattr(args, flag):
            setattr(cfg, field, getattr(args, flag))
    if hasattr(args, "nemesis"):
        cfg.nemesis = parse_nemesis(args.nemesis)
    for item in getattr(args, "backend_option", ()):
        key, value = _key_value(item)
        cfg.backend_options = {**cfg.backend_options, key: value}
    if hasattr(args, "endpoints"):
        cfg.endpoints = tuple(e.strip() for e in args.endpoints.split(",") if e.strip())
        if not hasattr(args, "nemesis"):
            cfg.nemesis = ()  # the default faults cannot reach an external cluster
    if hasattr(args, "region_split_size") and cfg.workload == "kv":
        _size_kv_for_regions(cfg, args)
    if not hasattr(args, "nodes") and not getattr(args, "config", None):
        from splitbrain import systems

        fixed = systems.create(cfg.system, cfg.system_options()).fixed_nodes
        if fixed:
            cfg.nodes = fixed
    return cfg.validate()


def _size_kv_for_regions(cfg, args) -> None:
    """Unless told otherwise, a kv run on Regions writes about 8 split sizes of data, so that it splits.

    The suite's defaults (8 keys, 16-byte values) write a few hundred KiB in a
    minute: a 256KiB Region would barely split once.
    """
    from splitbrain.systems.reference_kv import region_split_bytes

    split = region_split_bytes(cfg.region_split_size)
    if not hasattr(args, "keys") and not getattr(args, "config", None):
        cfg.keys = 1000
    if not hasattr(args, "value_size") and cfg.value_size is None:
        cfg.value_size = max(16, min(4096, -(-8 * split // cfg.keys)))


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
