"""`splitbrain demo`: the main job on the embedded default, then the report."""
from __future__ import annotations

import argparse

HELP = ("3 reference-KV nodes on the local backend, register workload, partitions + kills + pauses "
        "(about a minute), then the report")


def add_arguments(p: argparse.ArgumentParser) -> None:
    S = argparse.SUPPRESS
    p.add_argument("--time", type=float, default=S, metavar="S", help="seconds of load (default 60)")
    p.add_argument("--out", default=S, metavar="DIR", help="where the run directory goes (default results/)")
    p.add_argument("--seed", type=int, default=S, help="seed of workload and schedule (default 0)")


def run(args) -> int:
    from splitbrain.campaign import execute
    from splitbrain.config import RunConfig

    cfg = RunConfig()
    for name in ("time", "out", "seed"):
        if hasattr(args, name):
            setattr(cfg, name, getattr(args, name))
    return execute(cfg.validate())
