"""What one run is: a dataclass merged over defaults, saved as config.json.

`splitbrain run --config FILE` loads a saved config.json (so any run can be
rerun exactly), then command-line options given explicitly override it.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib

from splitbrain.errors import UsageError

DEMO_NEMESIS = ("partition", "kill", "pause")
DEFAULT_NODES = 3
DEFAULT_KEYS = 8


@dataclasses.dataclass
class RunConfig:
    system: str = "reference-kv"
    workload: str = "register"
    nemesis: tuple[str, ...] = DEMO_NEMESIS
    backend: str = "local"
    nodes: int | None = None  # None: the system's fixed size, else DEFAULT_NODES
    time: float = 60.0  # seconds of load, faults included
    concurrency: int = 10
    rate: float | None = None  # target ops/s over all users; None = as fast as they go
    # one of the system's read modes (its adapter's `read_modes`); None: the system's default
    read_mode: str | None = dataclasses.field(default=None, metadata={"system": True})
    seed: int = 0
    keys: int | None = None  # None: what the system sizes the load to (Regions), else DEFAULT_KEYS
    value_size: int | None = None  # kv workload: bytes per value (None: the system's sizing, else 16)
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
        """Refuses what cannot run (one line each) and fills what the system decides (nodes, load size)."""
        import workloads
        from nemesis import backends

        from splitbrain import systems

        system = systems.create(self.system, self.system_options())
        if self.workload not in workloads.WORKLOADS:
            raise UsageError(f"unknown workload {self.workload!r} (choose from {', '.join(workloads.names())})")
        if self.backend not in backends.NAMES:
            raise UsageError(f"unknown backend {self.backend!r} (choose from {', '.join(backends.NAMES)})")
        self.nemesis = tuple(self.nemesis)
        self.endpoints = tuple(self.endpoints)
        if self.endpoints:
            self.nodes = len(self.endpoints)
        elif self.nodes is None:
            self.nodes = system.fixed_nodes or DEFAULT_NODES
        elif system.fixed_nodes and self.nodes != system.fixed_nodes:
            raise UsageError(f"system {system.name} runs exactly {system.fixed_nodes} node(s), "
                             f"not --nodes {self.nodes}")
        if self.nodes < 1:
            raise UsageError(f"--nodes must be at least 1, got {self.nodes}")
        for name in ("time", "concurrency", "keys", "value_size", "nemesis_interval", "fault_duration", "rate"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise UsageError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.quiet < 0:
            raise UsageError(f"--quiet must not be negative, got {self.quiet}")
        sized = getattr(system, "sized_load", None)  # e.g. a kv load big enough for Regions to split
        for name, value in (sized(self.workload, self.keys, self.value_size) if sized else {}).items():
            setattr(self, name, value)
        if self.keys is None:
            self.keys = DEFAULT_KEYS
        if self.endpoints:
            for e in self.endpoints:
                host, sep, port = e.rpartition(":")
                if not sep or not host or not port.isdigit():
                    raise UsageError(f"--endpoints: {e!r} is not host:port")
            if self.nemesis:
                raise UsageError("faults need a cluster the suite runs: with --endpoints the suite owns no node "
                                 "process to kill or pause and no link to cut; use --nemesis none")
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
