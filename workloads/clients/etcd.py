"""etcd v3 through its JSON gateway (`/v3/kv/...`, as served by etcd 3.4 and later).

Keys and values travel base64-encoded; values are stored as JSON text so a
register's ints and a kv's strings read back as they were written.
- cas compares the value in a txn (expected None compares version 0: absent);
- append reads, then writes in a txn guarded by the key's mod_revision, retrying
  a few times when another writer got in between (each lost round wrote nothing);
- read modes (etcd's own names): `linearizable` (the default, ReadIndex through
  the leader) and `serializable` (`serializable: true`: answered by the member
  alone, from its local state, possibly stale: etcd's follower read).
"""
from __future__ import annotations

import base64
from typing import Any

from workloads.clients.base import KVAliases, decode_value, encode_value
from workloads.clients.httpjson import JsonConnection
from workloads.errors import DefiniteError, IndeterminateError

# gRPC codes that etcd returns only when it rejected the request before proposing it.
DEFINITE_CODES = {3, 5, 7, 8, 9, 11, 12, 16}
APPEND_ROUNDS = 8


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _key(key: str) -> str:
    return _b64(key.encode())


def _encode(value: Any) -> str:
    return _b64(encode_value(value).encode())


def _decode(b64: str | None) -> Any:
    return decode_value(base64.b64decode(b64 or ""))


class EtcdClient(KVAliases):
    system = "etcd"
    READ_MODES = ("linearizable", "serializable")
    STALE_READ_MODES = ("serializable",)  # answered by any member from its own state: stale by design

    def __init__(self, endpoints: list[str], timeout: float = 1.0, read_mode: str | None = None,
                 start: int = 0) -> None:
        if not endpoints:
            raise ValueError("etcd client needs at least one endpoint")
        self.serializable = read_mode == "serializable"
        self._conns = [JsonConnection(e, timeout) for e in endpoints]
        self._at = start % len(self._conns)
        self.node: str | None = None

    def close(self) -> None:
        for c in self._conns:
            c.close()

    def _call(self, path: str, body: dict) -> dict:
        """POST to one member; moves to the next member only when nothing was sent."""
        last: DefiniteError | None = None
        for _ in range(len(self._conns)):
            conn = self._conns[self._at]
            try:
                status, reply = conn.request("POST", path, body)
            except DefiniteError as e:
                if e.kind not in ("refused", "connect"):
                    raise
                last = e
                self._at = (self._at + 1) % len(self._conns)
                continue
            self.node = conn.address
            if status == 200 and isinstance(reply, dict):
                return reply
            reply = reply if isinstance(reply, dict) else {}
            message = str(reply.get("message") or reply.get("error") or f"HTTP {status}")
            if reply.get("code") in DEFINITE_CODES or status in (400, 404):
                raise DefiniteError("rejected", message)
            raise IndeterminateError("etcd error", message)
        assert last is not None
        raise last

    def _range(self, key: str) -> tuple[Any, int]:
        body: dict[str, Any] = {"key": _key(key)}
        if self.serializable:
            body["serializable"] = True
        reply = self._call("/v3/kv/range", body)
        kvs = reply.get("kvs") or []
        if not kvs:
            return None, 0
        return _decode(kvs[0].get("value")), int(kvs[0].get("mod_revision", 0))

    def read(self, key: str) -> Any:
        return self._range(key)[0]

    def write(self, key: str, value: Any) -> None:
        self._call("/v3/kv/put", {"key": _key(key), "value": _encode(value)})

    def delete(self, key: str) -> None:
        self._call("/v3/kv/deleterange", {"key": _key(key)})

    def _txn(self, compare: dict, key: str, value: Any) -> bool:
        reply = self._call("/v3/kv/txn", {
            "compare": [compare],
            "success": [{"request_put": {"key": _key(key), "value": _encode(value)}}],
        })
        return bool(reply.get("succeeded", False))

    def cas(self, key: str, expected: Any, new: Any) -> bool:
        if expected is None:
            compare = {"key": _key(key), "target": "VERSION", "result": "EQUAL", "version": 0}
        else:
            compare = {"key": _key(key), "target": "VALUE", "result": "EQUAL", "value": _encode(expected)}
        return self._txn(compare, key, new)

    def append(self, key: str, suffix: str) -> None:
        for _ in range(APPEND_ROUNDS):
            try:
                current, mod_revision = self._range(key)
            except IndeterminateError as e:  # only the read was lost; nothing was written
                raise DefiniteError(e.kind, e.detail) from None
            if current is not None and not isinstance(current, str):
                raise DefiniteError("rejected", f"append to a non-string value at {key!r}")
            compare = {"key": _key(key), "target": "MOD", "result": "EQUAL", "mod_revision": mod_revision}
            if self._txn(compare, key, (current or "") + suffix):
                return
        raise DefiniteError("contention", f"append to {key!r} lost {APPEND_ROUNDS} rounds")
