"""A minimal blocking HTTP/1.1 keep-alive client over a plain socket.

The load generator must cost the same per request for every system under
test and must not be the bottleneck on a 2-core machine, so it skips
`http.client`'s generality: one request line, Content-Length framing, and a
response parser that reads only the status line, Content-Length and body.
"""
from __future__ import annotations

import socket


class HTTPConnectionError(Exception):
    """The connection failed or closed; the request's outcome is unknown."""


class Conn:
    def __init__(self, address: str, timeout: float = 2.0, connect_timeout: float | None = None):
        host, _, port = address.rpartition(":")
        self.host, self.port = host, int(port)
        self.address = address
        self.timeout = timeout
        self.connect_timeout = connect_timeout or timeout
        self.sock: socket.socket | None = None
        self._buf = b""

    def connect(self) -> None:
        s = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(self.timeout)
        self.sock, self._buf = s, b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.sock is None:
            self.connect()
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        try:
            self.sock.sendall(head + body)
            return self._response()
        except (OSError, ValueError) as e:
            self.close()
            raise HTTPConnectionError(str(e) or type(e).__name__) from None

    def _response(self) -> tuple[int, bytes]:
        buf = self._buf
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ValueError("connection closed")
            buf += chunk
        head = buf[:end].decode("latin-1")
        status = int(head[9:12])
        length = 0
        close = False
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        start = end + 4
        while len(buf) < start + length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ValueError("connection closed in body")
            buf += chunk
        self._buf = buf[start + length:]
        body = buf[start:start + length]
        if close:
            self.close()
        return status, body
