"""The reference KV through its own client library (`reference_kv.client`).

The library already finds the leader, follows hints and retries with one
request id, so a retried write is applied at most once; this adapter only maps
its two error classes onto the system-neutral ones and names the serving node.
"""
from __future__ import annotations

from typing import Any, Callable, TypeVar

from reference_kv.readmodes import UNSAFE as NODE_UNSAFE
from reference_kv.server import READ_MODES as NODE_READ_MODES
from workloads.clients.base import KVAliases
from workloads.errors import DefiniteError, IndeterminateError

T = TypeVar("T")


class ReferenceKVClient(KVAliases):
    system = "reference-kv"
    READ_MODES = NODE_READ_MODES  # the node's `?read=` names, owned by the KV
    STALE_READ_MODES = tuple(sorted(NODE_UNSAFE))  # the KV's UNSAFE modes: stale by design

    def __init__(self, endpoints: list[str], timeout: float = 1.0, read_mode: str | None = None,
                 start: int = 0) -> None:
        from reference_kv import client as rkv  # imported late: tests of etcd alone need not load it

        if not endpoints:
            raise ValueError("reference-kv client needs at least one endpoint")
        self._rkv = rkv
        self.read_mode = read_mode or self.READ_MODES[0]
        # Rotating the list spreads first contact (and follower reads) over the nodes.
        start %= len(endpoints)
        # `timeout` bounds the whole operation, retries and leader hunting included.
        self._client = rkv.Client(list(endpoints[start:]) + list(endpoints[:start]), timeout=timeout,
                                  attempt_timeout=min(timeout, 1.0))
        self.node: str | None = None

    def _do(self, call: Callable[[], T]) -> T:
        try:
            result = call()
        except self._rkv.DefiniteError as e:
            raise DefiniteError(_kind(e, "rejected"), str(e)) from None
        except self._rkv.IndeterminateError as e:
            raise IndeterminateError(_kind(e, "timeout"), str(e)) from None
        finally:
            self.node = _served_by(self._client)
        return result

    def read(self, key: str) -> Any:
        return self._do(lambda: self._client.get(key, read=self.read_mode))

    def write(self, key: str, value: Any) -> None:
        self._do(lambda: self._client.put(key, value))

    def delete(self, key: str) -> None:
        self._do(lambda: self._client.delete(key))

    def cas(self, key: str, expected: Any, new: Any) -> bool:
        return bool(self._do(lambda: self._client.cas(key, expected, new)))

    def append(self, key: str, suffix: str) -> None:
        self._do(lambda: self._client.append(key, suffix))

    def close(self) -> None:
        close = getattr(self._client, "close", None)
        if close is not None:
            close()


def _kind(error: Exception, default: str) -> str:
    kind = getattr(error, "kind", None) or getattr(error, "error", None)
    return str(kind) if kind else default


def _served_by(client: object) -> str | None:
    # The library's contract does not name the serving node; use what it exposes, if anything.
    for attr in ("last_node", "last_address", "leader_address"):
        value = getattr(client, attr, None)
        if isinstance(value, str):
            return value
    return None
