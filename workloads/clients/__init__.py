"""System clients behind one protocol (`workloads.clients.base.Client`).

Which client a load uses is a *client spec*: a protocol name (`reference-kv`,
`etcd`, `redis`), `python:module:Class` for a client the user wrote, or an
object `{"protocol": ..., <options>}` whose options go to the client's
constructor (the http-json routes, the redis sentinels, the process client's
command). Being plain JSON, a spec travels in the load config to the Locust
process. A client class may check its options up front (`check_options`,
ValueError naming the key).

A client class says which read modes it can phrase in `READ_MODES` (the first
is its default; none: it reads one way only); the system adapters publish
those to the suite.
"""
from __future__ import annotations

import importlib
import inspect
from typing import Any

from workloads.clients.base import Client

# protocol -> its client class; a new built-in client is its module and one line here.
PROTOCOLS = {
    "reference-kv": "workloads.clients.reference_kv:ReferenceKVClient",
    "etcd": "workloads.clients.etcd:EtcdClient",
    "redis": "workloads.clients.redis:RedisClient",
    "http-json": "workloads.clients.httpjson_templated:TemplatedHttpClient",
    "process": "workloads.clients.process:ProcessClient",
}
SYSTEMS = tuple(PROTOCOLS)
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
    else:
        cls = client_class(protocol)
        _check_option_names(cls, options)
        check = getattr(cls, "check_options", None)
        if check is not None:  # a client whose options are a language of their own names the bad one
            check(options)
    return protocol, options


# What the suite itself hands every client (make_client): never an option of a spec.
SUITE_ARGUMENTS = ("endpoints", "timeout", "read_mode", "start")


def _check_option_names(cls: type, options: dict) -> None:
    """Every option is a keyword the client's constructor takes (one taking **options checks its own):
    an unknown key was met only by every load user, at run time, as a TypeError."""
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    names = [n for n in params if n not in ("self", *SUITE_ARGUMENTS)]
    for key in options:
        if key not in names:
            expected = f"expected one of {', '.join(names)}" if names else f"the {cls.system} client takes no options"
            raise ValueError(f"{key}: unknown key ({expected})")


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


def client_class(protocol: str) -> type:
    if protocol in PROTOCOLS:
        module, _, name = PROTOCOLS[protocol].partition(":")
        return getattr(importlib.import_module(module), name)
    return _user_class(protocol)


def read_modes(spec: str | dict) -> tuple[str, ...]:
    """The read modes the spec's client can phrase, its default first; () if it reads one way only."""
    protocol = spec if isinstance(spec, str) else split_spec(spec)[0]
    return tuple(getattr(client_class(protocol), "READ_MODES", ()))


def read_modes_help() -> str:
    """`reference-kv: readindex | lease ...; etcd: ...` for the built-in clients that have read modes."""
    return "; ".join(f"{p}: {' | '.join(m)}" for p in PROTOCOLS if (m := read_modes(p)))


def check_read_mode(spec: str | dict, read_mode: str | None) -> None:
    """ValueError (one line) unless the spec's client can phrase `read_mode` (None: its default)."""
    modes = read_modes(spec)
    if read_mode is not None and read_mode not in modes:
        raise ValueError(f"the {protocol_name(spec)} client has no read mode {read_mode!r} "
                         f"({'one of ' + ', '.join(modes) if modes else 'it reads one way only'})")


def make_client(system: str | dict, endpoints: list[str], timeout: float = 1.0, read_mode: str | None = None,
                start: int = 0) -> Client:
    """A client for the spec `system`; `start` picks which endpoint it contacts first."""
    protocol, options = split_spec(system)
    check_read_mode(system, read_mode)
    cls = client_class(protocol)
    kw: dict[str, Any] = {"timeout": timeout, "read_mode": read_mode, "start": start, **options}
    try:
        return cls(list(endpoints), **kw)
    except TypeError as e:  # an option the client does not take
        raise ValueError(f"client {protocol!r}: {e}") from None


__all__ = ["Client", "PROTOCOLS", "SYSTEMS", "check_read_mode", "client_class", "make_client", "protocol_name",
           "read_modes", "split_spec"]
