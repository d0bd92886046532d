"""One keep-alive HTTP/1.1 connection carrying JSON, with failures split by phase.

A failure before the request could leave this host (connect refused or timed
out) is definite; any failure once bytes may have reached the server is
indeterminate, because the server may have applied the request and only the
answer was lost.
"""
from __future__ import annotations

import http.client
import json
import socket
from typing import Any

from workloads.errors import DefiniteError, IndeterminateError


def split_address(address: str) -> tuple[str, int]:
    host, sep, port = address.strip().rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"endpoint {address!r} is not host:port")
    return host.strip("[]"), int(port)


class JsonConnection:
    def __init__(self, address: str, timeout: float) -> None:
        self.address = address
        self.host, self.port = split_address(address)
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connected(self) -> http.client.HTTPConnection:
        if self._conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                conn.connect()
            except ConnectionRefusedError as e:
                raise DefiniteError("refused", f"{self.address}: {e}") from None
            except OSError as e:  # timeout or unreachable while connecting: nothing was sent
                raise DefiniteError("connect", f"{self.address}: {e}") from None
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._conn = conn
        return self._conn

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Returns (status, decoded JSON body or None)."""
        conn = self._connected()
        payload = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        try:
            conn.request(method, path, body=payload, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except (TimeoutError, socket.timeout) as e:
            self.close()
            raise IndeterminateError("timeout", f"{self.address} {method} {path}: {e}") from None
        except (OSError, http.client.HTTPException) as e:
            self.close()
            raise IndeterminateError("connection lost", f"{self.address} {method} {path}: {e!r}") from None
        if resp.will_close:
            self.close()
        try:
            return resp.status, (json.loads(raw) if raw else None)
        except ValueError:
            return resp.status, {"error": raw[:200].decode("utf-8", "replace")}
