"""The options of one load run, validated once, whichever way the run was started.

The same names serve `run_load(...)`, `python -m workloads.run --config`, and the
Locust command line (`--system`, `--endpoints`, ... added by `workloads.options`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from workloads import WORKLOADS
from workloads.clients import check_read_mode, split_spec
from workloads.keys import Mix


@dataclass(frozen=True)
class Settings:
    # a client spec: a protocol name, python:module:Class, or {"protocol": ..., options} (workloads.clients)
    system: str | dict = "reference-kv"
    endpoints: tuple[str, ...] = ()
    workload: str = "register"
    history: str | None = None
    keys: int | None = None  # register/reads: live keys at a time; kv: key space size
    ops_per_key: int | None = None  # None: register/append keys live for the whole run; reads/failover rotate every 100
    seed: int = 0
    read_mode: str | None = None
    rate: float = 0.0  # target ops/s of this process over all users; 0 = as fast as they go
    value_size: int = 16
    mix: str = "A"
    timeout: float = 1.0  # per request, seconds
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = []
        try:
            split_spec(self.system)
            check_read_mode(self.system, self.read_mode)
        except ValueError as e:
            problems.append(str(e))
        if self.workload not in WORKLOADS:
            problems.append(f"workload {self.workload!r} is not one of {', '.join(WORKLOADS)}")
        if not self.endpoints:
            problems.append("no endpoints (give --endpoints host:port,... or --host)")
        for e in self.endpoints:
            host, sep, port = e.rpartition(":")
            if not sep or not host or not port.isdigit():
                problems.append(f"endpoint {e!r} is not host:port")
        if self.keys is not None and self.keys < 1:
            problems.append("keys must be at least 1")
        if self.ops_per_key is not None and self.ops_per_key < 1:
            problems.append("ops-per-key must be at least 1")
        if self.rate < 0:
            problems.append("rate must not be negative")
        if self.value_size < 1:
            problems.append("value size must be at least 1")
        if self.timeout <= 0:
            problems.append("timeout must be positive")
        try:
            Mix(self.mix)
        except ValueError as e:
            problems.append(str(e))
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def from_mapping(cls, values: dict) -> "Settings":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown option(s): {', '.join(unknown)}")
        values = dict(values)
        values["endpoints"] = parse_endpoints(values.get("endpoints") or ())
        return cls(**values)


def parse_endpoints(value: str | list | tuple, host: str | None = None) -> tuple[str, ...]:
    """`a:1,b:2` or a list; falls back to Locust's --host (`http://a:1` or `a:1,b:2`)."""
    items = [i for i in (value.split(",") if isinstance(value, str) else list(value)) if str(i).strip()]
    if not items and host:
        items = host.split(",")
    out = []
    for item in (str(i).strip() for i in items):
        if not item:
            continue
        out.append(urlsplit(item).netloc if "://" in item else item)
    return tuple(out)
