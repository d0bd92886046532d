"""What one run is: a dataclass merged over defaults, saved as config.json.

`splitbrain run --config FILE` loads a saved config.json (so any run can be
rerun exactly), then command-line options given explicitly override it.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib

from splitbrain import values
from splitbrain.errors import UsageError

DEMO_NEMESIS = ("partition", "kill", "pause")
DEFAULT_NODES = 3
DEFAULT_KEYS = 8
MAX_NODES = 250  # what the largest backend holds (one /24 of addresses); each backend states its own


def setting(default, kind: values.Kind, **metadata):
    """A RunConfig field with the kind of value it takes (checked by `validate`, whatever set it)."""
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata={"kind": kind, **metadata})
    return dataclasses.field(default=default, metadata={"kind": kind, **metadata})


_NAME = values.Text()
_OPTIONAL_NAME = values.Text(optional=True)
MAX_FAULTS = 100_000  # faults one schedule may plan (--time / --nemesis-interval): its steps are held in memory


@dataclasses.dataclass
class RunConfig:
    system: str = setting("reference-kv", _NAME)
    workload: str = setting("register", _NAME)
    nemesis: tuple[str, ...] = setting(DEMO_NEMESIS, values.Texts())
    # one fault at a time, or one stream per lane overlapping (nemesis.schedule.MODES)
    nemesis_mode: str = setting("sequential", _NAME)
    backend: str = setting("local", _NAME)
    # None: the system's fixed size, else DEFAULT_NODES; each backend states its own maximum
    nodes: int | None = setting(None, values.count(1, MAX_NODES, optional=True))
    time: float = setting(60.0, values.SECONDS)  # seconds of load, faults included
    concurrency: int = setting(10, values.count(1, 10_000))
    # target ops/s over all users; None = as fast as they go
    rate: float | None = setting(None, values.Number(0, 1e6, low_open=True, unit="of operations/s", optional=True))
    # one of the system's read modes (its adapter's `read_modes`); None: the system's default
    read_mode: str | None = setting(None, _OPTIONAL_NAME, system=True)
    seed: int = setting(0, values.Number(-values.MAX_INT, values.MAX_INT, integer=True))
    # None: what the system sizes the load to (Regions), else DEFAULT_KEYS
    keys: int | None = setting(None, values.count(1, 1_000_000, optional=True))
    # kv workload: bytes per value (None: the system's sizing, else 16)
    value_size: int | None = setting(None, values.count(1, 16 * 2**20, optional=True))
    nemesis_interval: float = setting(5.0, values.SECONDS)  # seconds between the start of consecutive faults
    fault_duration: float = setting(3.0, values.SECONDS)
    quiet: float = setting(3.0, values.seconds(low_open=False))  # calm load after the final heal, before the end
    out: str = setting("results", _NAME)
    check_timeout: float | None = setting(300.0, values.OPTIONAL_SECONDS)
    # system knobs: passed to the adapter when set; an adapter that does not declare one refuses the run
    snapshot_every: int | None = setting(None, values.count(1, optional=True), system=True)
    unsafe_bug: str | None = setting(None, _OPTIONAL_NAME, system=True)
    # reference-kv: run the multi-Raft Region store, splitting Regions above this size ("256KiB", "64MiB")
    region_split_size: str | None = setting(None, _OPTIONAL_NAME, system=True)
    # host:port,... of a cluster the suite does not run (then no faults: it owns no process or link)
    endpoints: tuple[str, ...] = setting((), values.Texts())
    # where the backend needs more (ssh hosts, docker image tag)
    backend_options: dict = setting({}, values.Table())

    def validate(self) -> "RunConfig":
        """Refuses what cannot run (one line each) and fills what the system decides (nodes, load size)."""
        import workloads
        from nemesis import backends
        from nemesis.schedule import MODES

        from splitbrain import systems

        self.check_values()
        system = systems.create(self.system, self.system_options())
        if self.workload not in workloads.WORKLOADS:
            raise UsageError(f"unknown workload {self.workload!r} (choose from {', '.join(workloads.names())})")
        if self.nemesis_mode not in MODES:
            raise UsageError(f"unknown --nemesis-mode {self.nemesis_mode!r} (choose from {', '.join(MODES)})")
        if self.backend not in backends.NAMES:
            raise UsageError(f"unknown backend {self.backend!r} (choose from {', '.join(backends.NAMES)})")
        if self.endpoints:
            self.nodes = len(self.endpoints)
        elif self.nodes is None:
            self.nodes = system.fixed_nodes or DEFAULT_NODES
        elif system.fixed_nodes and self.nodes != system.fixed_nodes:
            raise UsageError(f"system {system.name} runs exactly {system.fixed_nodes} node(s), "
                             f"not --nodes {self.nodes}")
        if self.nemesis and self.time / self.nemesis_interval > MAX_FAULTS:
            raise UsageError(f"--time {self.time:g} with --nemesis-interval {self.nemesis_interval:g} plans more "
                             f"than {MAX_FAULTS} faults; lengthen the interval")
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

    @classmethod
    def kind(cls, field: str) -> values.Kind:
        """The kind of value `field` takes."""
        return next(f.metadata["kind"] for f in dataclasses.fields(cls) if f.name == field)

    def check_values(self, name=None) -> None:
        """Every field of the kind its declaration says (type, finite, range), normalized; else one line
        naming it (`name(field)`: its flag by default)."""
        for f in dataclasses.fields(self):
            try:
                setattr(self, f.name, f.metadata["kind"].check(getattr(self, f.name)))
            except ValueError as e:
                raise UsageError(f"{(name or flag)(f.name)} {e}") from None

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
        except (ValueError, RecursionError) as e:
            raise UsageError(f"{path}: not valid JSON ({e})") from None
        except OSError as e:
            raise UsageError(f"{path}: cannot read ({e.strerror or e})") from None
        if not isinstance(raw, dict):
            raise UsageError(f"{path}: expected a JSON object")
        return cls.from_dict(raw, source=path)

    @classmethod
    def from_dict(cls, raw: dict, source: str = "config") -> "RunConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise UsageError(f"{source}: unknown key {unknown[0]!r}")
        cfg = cls(**raw)
        cfg.check_values(lambda field: f"{source}: {field}")
        return cfg


def flag(field: str) -> str:
    """The command-line flag of a RunConfig field."""
    return "--" + field.replace("_", "-")


def parse_nemesis(text: str) -> tuple[str, ...]:
    """'partition,kill' -> ('partition', 'kill'); 'none' or '' -> ()."""
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    return () if parts in ((), ("none",)) else parts
