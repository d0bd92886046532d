"""A small RESP2 client on a plain blocking socket (so gevent makes it cooperative).

Failures are split by phase as in `httpjson`: nothing sent yet (connect refused
or timed out) is definite; a timeout or a dropped connection once the command
may have reached the server is indeterminate. An error reply (`-ERR ...`) is
`ReplyError`: Redis answers with one before it executes anything, so it is the
caller's to classify, usually as definite.
"""
from __future__ import annotations

import socket
from typing import Any

from workloads.clients.httpjson import split_address
from workloads.errors import DefiniteError, IndeterminateError


class ReplyError(Exception):
    """The server answered with an error reply; `code` is its first word (READONLY, ERR, ...)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.code = message.split(" ", 1)[0]


class ProtocolError(Exception):
    pass


def encode(args: tuple) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        data = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def read_reply(stream) -> Any:
    """One reply from a buffered binary stream; bulk strings come back as bytes."""
    line = stream.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed mid-reply")
    kind, body = line[:1], line[1:-2]
    if kind == b"+":
        return body.decode()
    if kind == b"-":
        return ReplyError(body.decode("utf-8", "replace"))
    if kind == b":":
        return int(body)
    if kind == b"$":
        n = int(body)
        if n < 0:
            return None
        data = stream.read(n + 2)
        if len(data) != n + 2:
            raise ConnectionError("connection closed mid-reply")
        return data[:-2]
    if kind == b"*":
        n = int(body)
        return None if n < 0 else [read_reply(stream) for _ in range(n)]
    raise ProtocolError(f"unexpected reply type {line[:20]!r}")


class RespConnection:
    def __init__(self, address: str, timeout: float) -> None:
        self.address = address
        self.host, self.port = split_address(address)
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._stream = None

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._stream.close()
                self._sock.close()
            finally:
                self._sock = self._stream = None

    def _connected(self) -> None:
        if self._sock is not None:
            return
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except ConnectionRefusedError as e:
            raise DefiniteError("refused", f"{self.address}: {e}") from None
        except OSError as e:
            raise DefiniteError("connect", f"{self.address}: {e}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock, self._stream = sock, sock.makefile("rb")

    def call(self, *args) -> Any:
        """Sends one command, returns its reply; raises ReplyError for an error reply."""
        self._connected()
        try:
            self._sock.sendall(encode(args))
            reply = read_reply(self._stream)
        except (TimeoutError, socket.timeout) as e:
            self.close()
            raise IndeterminateError("timeout", f"{self.address} {args[0]}: {e}") from None
        except (OSError, ValueError, ProtocolError) as e:
            self.close()
            raise IndeterminateError("connection lost", f"{self.address} {args[0]}: {e!r}") from None
        if isinstance(reply, ReplyError):
            raise reply
        return reply
