"""Run one workload in this process and print Locust's statistics.

    python -m workloads.run --config '{"system": "etcd", "endpoints": ["127.0.0.1:2379"],
                                       "workload": "register", "users": 5, "run_time": 10,
                                       "history_path": "history.jsonl"}'
    python -m workloads.run --config run.json

The config holds the keyword arguments of `workloads.runner.run_load`. Output:
`progress {json}` lines once a second and `event {json}` lines for the load's
own events (with --progress: see workloads.loadevents), then Locust's stats,
percentile and error tables, then one `result {json}` line with the stats dict.
SIGTERM or Ctrl-C stops the load early; in-flight operations complete, the
history keeps every line, and the exit status is still 0. Exit 2 = bad config.
"""
from __future__ import annotations

from locust import events as _events  # noqa: F401  (first: Locust patches sockets on import)

import argparse
import inspect
import json
import os
import signal
import sys

import gevent
from gevent.event import Event


def load_config(text: str) -> dict:
    source = text
    if not text.lstrip().startswith("{"):
        if not os.path.isfile(text):
            raise ValueError(f"--config {text!r} is neither a JSON object nor a file")
        with open(text, encoding="utf-8") as f:
            source = f.read()
    try:
        config = json.loads(source)
    except ValueError as e:
        raise ValueError(f"--config is not valid JSON: {e}") from None
    if not isinstance(config, dict):
        raise ValueError("--config must be a JSON object")
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workloads.run", description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True, help="JSON object or a file holding one")
    parser.add_argument("--progress", action="store_true", help="print a progress line every second")
    parser.add_argument("--append-path", action="append", default=[], metavar="DIR",
                        help="a directory to import python:module:Class clients from, searched last")
    args = parser.parse_args(argv)
    # last, not first (PYTHONPATH would put it before the standard library): a user's module
    # named like a real one must not shadow it
    sys.path.extend(p for p in args.append_path if p not in sys.path)

    from locust.log import setup_logging

    from workloads.runner import run_load

    setup_logging("INFO")  # Locust prints its stats tables through its logging, as its CLI does

    stop = Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(sig, stop.set)

    def report_progress(p: dict) -> None:
        print("progress " + json.dumps(p), flush=True)

    def report_event(ev: dict) -> None:
        print("event " + json.dumps(ev, default=str), flush=True)

    try:
        config = load_config(args.config)
        for managed in ("stop_event", "on_progress", "on_event", "print_stats"):
            config.pop(managed, None)
        unknown = sorted(set(config) - set(inspect.signature(run_load).parameters))
        if unknown:
            raise ValueError(f"unknown config key(s): {', '.join(unknown)}")
        result = run_load(**config, stop_event=stop, on_progress=report_progress if args.progress else None,
                          on_event=report_event if args.progress else None, print_stats=True)
    except ValueError as e:
        print(f"workloads.run: {e}", file=sys.stderr)
        return 2
    print("result " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
