"""Locust command-line options of the splitbrain workloads, and the run's shared state.

Importing this module registers the options with Locust once (every workload
module imports it, so any `locust -f workloads/<name>.py` has them); Locust
passes them on to workers in distributed mode.
"""
from __future__ import annotations

import json
import logging
import random
import uuid

from locust import events

from workloads.clients import PROTOCOLS, read_modes_help
from workloads.keys import Mix
from workloads.recorder import HistoryFile, Recorder
from workloads.settings import Settings, parse_endpoints
from workloads.pacing import Pacer

log = logging.getLogger(__name__)

CLI_OPTIONS = ("system", "endpoints", "history", "keys", "ops_per_key", "seed", "read_mode", "rate",
               "value_size", "mix", "timeout")


@events.init_command_line_parser.add_listener
def add_arguments(parser) -> None:
    # Straight on Locust's parser: only it knows `include_in_web_ui` (argument groups do not).
    group = parser
    group.add_argument("--system", default="reference-kv", include_in_web_ui=True,
                       help=f"client: {' | '.join(PROTOCOLS)} | python:module:Class | a JSON client spec")
    group.add_argument("--endpoints", default="", include_in_web_ui=True,
                       help="host:port,... of the nodes (default: from --host)")
    group.add_argument("--history", default=None, help="append the JSONL history here")
    group.add_argument("--keys", type=int, default=None,
                       help="register/reads: keys live at a time (3); kv: key space (1000)")
    group.add_argument("--ops-per-key", type=int, default=None,
                       help="ops per key before it rotates (default: register/append never, reads/failover 100)")
    group.add_argument("--seed", type=int, default=0, help="seed of every user's random choices")
    group.add_argument("--read-mode", default=None, include_in_web_ui=True,
                       help=f"per client, its default first: {read_modes_help()}")
    group.add_argument("--rate", type=float, default=0.0, help="target ops/s of this process, 0 = unpaced")
    group.add_argument("--value-size", type=int, default=16, help="kv: bytes per value")
    group.add_argument("--mix", default="A", help="kv: A | B | C | get=W,put=W,append=W")
    group.add_argument("--op-timeout", dest="timeout", type=float, default=1.0, help="seconds per request")


class RunContext:
    """What all users of one environment share: settings, recorder, pacer, key spaces."""

    def __init__(self, environment, settings: Settings) -> None:
        self.settings = settings
        runner = environment.runner
        self.worker_index = getattr(runner, "worker_index", 0) or 0
        self.history = HistoryFile(settings.history) if settings.history else None
        self.recorder = Recorder(self.history, settings.workload, environment.events.request, self.worker_index)
        self.pacer = Pacer(settings.rate)
        self.mix = Mix(settings.mix)
        # Keys carry a tag of this run: the checker assumes every key starts absent, which holds
        # only if no earlier run (on a cluster that is reused) touched the same names.
        self.key_prefix = f"{settings.workload}-{uuid.uuid4().hex[:8]}-"
        self._keyspaces: dict[str, object] = {}
        self._users = 0
        self.load_events = getattr(environment, "splitbrain_events", None)  # set by workloads.runner
        # After Locust stopped its users (`quit`), not before (`quitting`): stopping users finish their operation.
        environment.events.quit.add_listener(lambda **_: self.close())

    def keyspace(self, name: str, build):
        if name not in self._keyspaces:
            self._keyspaces[name] = build(self)
        return self._keyspaces[name]

    def next_user(self) -> tuple[int, random.Random]:
        index = self._users
        self._users += 1
        return index, random.Random(f"{self.settings.seed}:{self.worker_index}:{index}")

    def watch(self, user: int) -> None:
        """Record it if the calling user's greenlet ends before the load stops."""
        if self.load_events is not None:
            import gevent

            self.load_events.watch(gevent.getcurrent(), user)

    def close(self) -> None:
        if self.history is not None:
            self.history.close()


def settings_from_cli(environment, workload: str) -> Settings:
    options = environment.parsed_options
    values = {name: getattr(options, name) for name in CLI_OPTIONS}
    values["endpoints"] = parse_endpoints(values["endpoints"] or "", environment.host)
    if isinstance(values["system"], str) and values["system"].lstrip().startswith("{"):
        try:
            values["system"] = json.loads(values["system"])
        except ValueError as e:
            raise ValueError(f"--system is not valid JSON: {e}") from None
    return Settings(workload=workload, **values)


@events.init.add_listener
def check_cli_options(environment, **_) -> None:
    """A bad option on Locust's command line stops it with one line, before any user starts."""
    options = environment.parsed_options
    if options is None or getattr(options, "splitbrain_settings", None) is not None:
        return
    if getattr(options, "worker", False):  # a worker gets --host and our options from the master later
        return
    try:
        settings = settings_from_cli(environment, "register")
    except ValueError as e:
        log.error("splitbrain: %s", e)
        raise SystemExit(2) from None
    if not environment.stop_timeout:
        # Locust's default kills users mid-request at the end; letting them finish gives every
        # operation its completion. An explicit --stop-timeout wins.
        environment.stop_timeout = stop_timeout(settings.timeout)


def stop_timeout(op_timeout: float) -> float:
    return 2 * op_timeout + 1


def run_context(environment, workload: str) -> RunContext:
    context = getattr(environment, "splitbrain", None)
    if context is None:
        settings = getattr(environment.parsed_options, "splitbrain_settings", None)
        if settings is None:
            settings = settings_from_cli(environment, workload)
        context = RunContext(environment, settings)
        environment.splitbrain = context
    return context
