"""System clients behind one protocol (`workloads.clients.base.Client`).

Which client a load uses is a *client spec*: a protocol name (`reference-kv`,
`etcd`, `redis`), `python:module:Class` for a client the user wrote, or an
object `{"protocol": ..., <options>}` whose options go to the client's
constructor (the http-json routes, the redis sentinels). Being plain JSON, a
spec travels in the load config to the Locust process.
"""
from __future__ import annotations

import importlib
from typing import Any

from workloads.clients.base import READ_MODES, Client

SYSTEMS = ("reference-kv", "etcd", "redis", "http-json")
PYTHON_PREFIX = "python:"


def split_spec(spec: str | dict) -> tuple[str, dict]:
    """(protocol, options) of a client spec; ValueError (one line) if it is not one."""
    if isinstance(spec, str):
        protocol, options = spec, {}
    elif isinstance(spec, dict) and isinstance(spec.get("protocol"), str):
        options = {k: v for k, v in spec.items() if k != "protocol"}
        protocol = spec["protocol"]
    else:
        raise ValueError(f"system {spec!r} is not a client protocol name or an object with a \"protocol\"")
    if protocol.startswith(PYTHON_PREFIX):
        if len(protocol.split(":")) != 3 or not all(protocol.split(":")[1:]):
            raise ValueError(f"system {protocol!r}: expected python:module:Class")
        _user_class(protocol)  # a typo fails here, once, not in every Locust user
    elif protocol not in SYSTEMS:
        raise ValueError(f"system {protocol!r} is not one of {', '.join(SYSTEMS)} or python:module:Class")
    if protocol == "http-json":
        from workloads.clients.httpjson_templated import validate

        validate({"protocol": protocol, **options})
    return protocol, options


def protocol_name(spec: str | dict) -> str:
    return split_spec(spec)[0]


def _user_class(protocol: str) -> type:
    _, module, name = protocol.split(":")
    try:
        cls = getattr(importlib.import_module(module), name)
    except ImportError as e:
        raise ValueError(f"client {protocol!r}: cannot import {module!r} ({e})") from None
    except AttributeError:
        raise ValueError(f"client {protocol!r}: module {module!r} has no {name!r}") from None
    missing = [m for m in ("read", "write", "cas", "delete", "get", "put", "append", "close")
               if not callable(getattr(cls, m, None))]
    if missing:
        raise ValueError(f"client {protocol!r} lacks {', '.join(missing)} (see workloads.clients.base.Client)")
    return cls


def make_client(system: str | dict, endpoints: list[str], timeout: float = 1.0, read_mode: str | None = None,
                start: int = 0) -> Client:
    """A client for the spec `system`; `start` picks which endpoint it contacts first."""
    protocol, options = split_spec(system)
    kw: dict[str, Any] = {"timeout": timeout, "read_mode": read_mode, "start": start, **options}
    if protocol == "etcd":
        from workloads.clients.etcd import EtcdClient as cls
    elif protocol == "reference-kv":
        from workloads.clients.reference_kv import ReferenceKVClient as cls
    elif protocol == "redis":
        from workloads.clients.redis import RedisClient as cls
    elif protocol == "http-json":
        from workloads.clients.httpjson_templated import TemplatedHttpClient as cls
    else:
        cls = _user_class(protocol)
    try:
        return cls(list(endpoints), **kw)
    except TypeError as e:  # an option the client does not take
        raise ValueError(f"client {protocol!r}: {e}") from None


__all__ = ["Client", "READ_MODES", "SYSTEMS", "make_client", "protocol_name", "split_spec"]
