"""The one protocol every system client implements.

Operations are those of the checker's models: read / write / cas / delete for
the cas-register model and get / put / append for the kv model. Values are JSON
values. Clients block on plain sockets, so under gevent (Locust) each user's
calls yield to the others without threads. They raise only
`workloads.errors.DefiniteError` or `IndeterminateError`.
"""
from __future__ import annotations

import json
from typing import Any, Protocol, runtime_checkable

@runtime_checkable
class Client(Protocol):
    system: str
    node: str | None
    """Address of the node that served the last request, when known."""

    def read(self, key: str) -> Any: ...
    def write(self, key: str, value: Any) -> None: ...
    def cas(self, key: str, expected: Any, new: Any) -> bool: ...
    def delete(self, key: str) -> None: ...
    def get(self, key: str) -> Any: ...
    def put(self, key: str, value: Any) -> None: ...
    def append(self, key: str, suffix: str) -> None: ...
    def close(self) -> None: ...


class KVAliases:
    """The kv model's get/put are the register's read/write on the same store."""

    def get(self, key: str) -> Any:
        return self.read(key)  # type: ignore[attr-defined]

    def put(self, key: str, value: Any) -> None:
        self.write(key, value)  # type: ignore[attr-defined]


def encode_value(value: Any) -> str:
    """Values go to a store as compact JSON text, so any JSON value round-trips."""
    return json.dumps(value, separators=(",", ":"))


def decode_value(raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:  # written by something else than splitbrain
        return raw.decode("utf-8", "replace")
