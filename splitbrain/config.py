"""What one run is: a dataclass merged over defaults, saved as config.json.

`splitbrain run --config FILE` loads a saved config.json (so any run can be
rerun exactly), then command-line options given explicitly override it.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib

from splitbrain.errors import UsageError

WORKLOADS = ("register", "kv", "reads", "append", "failover")
BACKENDS = ("local", "netns", "docker", "ssh")
READ_MODES = ("readindex", "lease", "log", "follower", "local-unsafe")
DEMO_NEMESIS = ("partition", "kill", "pause")


@dataclasses.dataclass
class RunConfig:
    system: str = "reference-kv"
    workload: str = "register"
    nemesis: tuple[str, ...] = DEMO_NEMESIS
    backend: str = "local"
    nodes: int = 3
    time: float = 60.0  # seconds of load, faults included
    concurrency: int = 10
    rate: float | None = None  # target ops/s over all users; None = as fast as they go
    read_mode: str = dataclasses.field(default="readindex", metadata={"system": True})
    seed: int = 0
    keys: int = 8
    value_size: int | None = None  # kv workload: bytes per value (None: the workload's default, 16)
    nemesis_interval: float = 5.0  # seconds between the start of consecutive faults
    fault_duration: float = 3.0
    quiet: float = 3.0  # seconds of calm load after the final heal, before the end
    out: str = "results"
    check_timeout: float | None = 300.0
    # system knobs: passed to the adapter when set; an adapter that does not declare one refuses the run
    snapshot_every: int | None = dataclasses.field(default=None, metadata={"system": True})
    unsafe_bug: str | None = dataclasses.field(default=None, metadata={"system": True})
    # reference-kv: run the multi-Raft Region store, splitting Regions above this size ("256KiB", "64MiB")
    region_split_size: str | None = dataclasses.field(default=None, metadata={"system": True})
    # host:port,... of a cluster the suite does not run (then no faults: it owns no process or link)
    endpoints: tuple[str, ...] = ()
    # where the backend needs more (ssh hosts, docker image tag)
    backend_options: dict = dataclasses.field(default_factory=dict)

    def validate(self) -> "RunConfig":
        from splitbrain import systems

        system = systems.create(self.system, self.system_options())
        if self.workload not in WORKLOADS:
            raise UsageError(f"unknown workload {self.workload!r} (choose from {', '.join(WORKLOADS)})")
        if self.backend not in BACKENDS:
            raise UsageError(f"unknown backend {self.backend!r} (choose from {', '.join(BACKENDS)})")
        if self.read_mode not in READ_MODES:
            raise UsageError(f"unknown read mode {self.read_mode!r} (choose from {', '.join(READ_MODES)})")
        if self.nodes < 1:
            raise UsageError(f"--nodes must be at least 1, got {self.nodes}")
        if self.value_size is not None and self.value_size < 1:
            raise UsageError(f"--value-size must be positive, got {self.value_size}")
        for name in ("time", "concurrency", "keys", "nemesis_interval", "fault_duration"):
            if getattr(self, name) <= 0:
                raise UsageError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.quiet < 0:
            raise UsageError(f"--quiet must not be negative, got {self.quiet}")
        if self.rate is not None and self.rate <= 0:
            raise UsageError(f"--rate must be positive, got {self.rate}")
        self.nemesis = tuple(self.nemesis)
        self.endpoints = tuple(self.endpoints)
        if self.endpoints:
            for e in self.endpoints:
                host, sep, port = e.rpartition(":")
                if not sep or not host or not port.isdigit():
                    raise UsageError(f"--endpoints: {e!r} is not host:port")
            if self.nemesis:
                raise UsageError("faults need a cluster the suite runs: with --endpoints the suite owns no node "
                                 "process to kill or pause and no link to cut; use --nemesis none")
            self.nodes = len(self.endpoints)
        elif system.fixed_nodes and self.nodes != system.fixed_nodes:
            raise UsageError(f"system {system.name} runs exactly {system.fixed_nodes} node(s), not --nodes {self.nodes}")
        return self

    def system_options(self) -> dict:
        """The system knobs this run sets (those differing from their defaults)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.metadata.get("system") and getattr(self, f.name) != f.default}

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_file(cls, path: str) -> "RunConfig":
        p = pathlib.Path(path)
        try:
            raw = json.loads(p.read_text())
        except FileNotFoundError:
            raise UsageError(f"{path}: no such file") from None
        except ValueError as e:
            raise UsageError(f"{path}: not valid JSON ({e})") from None
        if not isinstance(raw, dict):
            raise UsageError(f"{path}: expected a JSON object")
        return cls.from_dict(raw, source=path)

    @classmethod
    def from_dict(cls, raw: dict, source: str = "config") -> "RunConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise UsageError(f"{source}: unknown key {unknown[0]!r}")
        if isinstance(raw.get("endpoints"), list):
            raw = {**raw, "endpoints": tuple(raw["endpoints"])}
        return cls(**raw)


def parse_nemesis(text: str) -> tuple[str, ...]:
    """'partition,kill' -> ('partition', 'kill'); 'none' or '' -> ()."""
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    return () if parts in ((), ("none",)) else parts
