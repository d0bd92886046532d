"""HTTP/1.1 for the KV's APIs: llhttp (through httptools, the parser under uvicorn) on an asyncio Protocol.

The parser's rules, not ours, decide what a request is: request line, header
syntax, Content-Length and chunked bodies, and the smuggling cases (both
Content-Length and Transfer-Encoding, two Content-Lengths, bad chunk sizes)
are refused by llhttp. This module adds only the limits the KV needs:

- headers at most MAX_HEADER bytes, a body at most `max_body` (413, the body
  is never read);
- requests on one connection are answered in order, one at a time
  (pipelining is allowed, at most PIPELINE_DEPTH parsed ahead: reading
  pauses beyond that); reading also pauses while the peer does not read
  our answers;
- a request that cannot be parsed gets 400 and its connection closes; other
  connections never notice.

`handler(request) -> (status, body, content type)` is awaited for each
request; body is bytes, or an object sent as JSON.
"""
from __future__ import annotations

import asyncio
import collections
import json
import logging
from dataclasses import dataclass

import httptools

log = logging.getLogger("reference_kv.http")

MAX_HEADER = 16 << 10
PIPELINE_DEPTH = 16
JSON = "application/json"
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
           409: "Conflict", 413: "Payload Too Large", 431: "Request Header Fields Too Large",
           500: "Internal Server Error", 503: "Service Unavailable", 504: "Gateway Timeout"}


@dataclass(slots=True)
class Request:
    method: str
    target: str  # the raw request target: path and query, percent-encoded
    headers: dict  # lower-case name -> value (str)
    body: bytes


class _Refuse(Exception):
    """A request this server will not read: answer `status` and close the connection."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def response(status: int, body, ctype: str = JSON, keep: bool = True, extra: str = "") -> bytes:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return (f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(data)}\r\n{extra}{'' if keep else 'Connection: close' + chr(13) + chr(10)}\r\n"
            ).encode() + data


class _Connection(asyncio.Protocol):
    __slots__ = ("server", "transport", "parser", "queue", "worker", "head_bytes", "url", "headers", "body",
                 "body_len", "closing", "reading", "can_write", "refusal", "eof")

    def __init__(self, server: "HTTPServer"):
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.queue: collections.deque = collections.deque()  # (Request, keep-alive) parsed, not yet answered
        self.worker: asyncio.Task | None = None
        self.closing = False
        self.reading = True
        self.can_write: asyncio.Future | None = None  # pending while the peer does not read
        self.refusal: bytes | None = None  # the last answer on this connection, after the queued ones
        self.eof = False
        self._reset()

    def _reset(self) -> None:
        self.head_bytes = 0
        self.url = b""
        self.headers: dict = {}
        self.body: list = []
        self.body_len = 0

    # --- asyncio.Protocol -----------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.server.conns.add(self)

    def connection_lost(self, exc) -> None:
        self.server.conns.discard(self)
        self.closing = True
        if self.can_write is not None and not self.can_write.done():
            self.can_write.set_result(None)

    def pause_writing(self) -> None:
        if self.can_write is None or self.can_write.done():
            self.can_write = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.can_write is not None and not self.can_write.done():
            self.can_write.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self.closing or self.refusal is not None:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, "protocol upgrade is not supported")
        except httptools.HttpParserError as e:
            # httptools reports a callback's exception as the context of its own
            refused = e if isinstance(e, _Refuse) else e.__context__
            if isinstance(refused, _Refuse):
                self._fail(refused.status, str(refused))
            else:
                self._fail(400, f"malformed request: {e}")

    def eof_received(self):
        if self.head_bytes or self.url:
            self._fail(400, "incomplete request")
        self.eof = True
        if self.worker is None:
            self._close()
        return True  # half-closed: the requests already read still get their answers

    # --- parser callbacks (llhttp has checked the syntax) -------------------------------
    def on_url(self, url: bytes) -> None:
        self.url += url
        self._count(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def _count(self, n: int) -> None:
        self.head_bytes += n
        if self.head_bytes > MAX_HEADER:
            raise _Refuse(431, f"request line and headers larger than {MAX_HEADER} bytes")

    def on_headers_complete(self) -> None:
        length = self.headers.get("content-length")
        if length is not None and int(length) > self.server.max_body:
            # Refused before its body is read: the stream is abandoned, the connection closes.
            raise _Refuse(413, f"request larger than {self.server.max_body} bytes")

    def on_body(self, chunk: bytes) -> None:
        self.body_len += len(chunk)
        if self.body_len > self.server.max_body:  # a chunked body has no length up front
            raise _Refuse(413, f"request larger than {self.server.max_body} bytes")
        self.body.append(chunk)

    def on_message_complete(self) -> None:
        p = self.parser
        req = Request(p.get_method().decode("ascii"), self.url.decode("latin-1"), self.headers, b"".join(self.body))
        self.queue.append((req, p.should_keep_alive()))
        self._reset()
        if len(self.queue) >= PIPELINE_DEPTH and self.reading:
            self.reading = False
            self.transport.pause_reading()
        self._work()

    def _work(self) -> None:
        if self.worker is None:
            self.worker = asyncio.get_running_loop().create_task(self._answer())

    # --- answers ------------------------------------------------------------------------
    async def _answer(self) -> None:
        """Answers the queued requests in order, then a refusal if one came after them."""
        try:
            while self.queue:
                req, keep = self.queue.popleft()
                status, body, ctype, extra = await self.server.call(req)
                if not await self._writable():
                    return
                self.transport.write(response(status, body, ctype, keep, extra))
                if not keep:
                    self._close()
                    return
                if not self.reading and self.refusal is None and len(self.queue) < PIPELINE_DEPTH // 2:
                    self.reading = True
                    self.transport.resume_reading()
            if self.refusal is not None and await self._writable():
                self.transport.write(self.refusal)
                self._close()
            elif self.eof:
                self._close()
        finally:
            self.worker = None

    async def _writable(self) -> bool:
        if self.can_write is not None:
            await self.can_write
        return not self.closing

    def _fail(self, status: int, message: str) -> None:
        """A request that cannot be read: answered after the ones before it, then the connection closes."""
        if self.refusal is not None or self.closing:
            return
        log.debug("refused a request: %s", message)
        self.refusal = response(status, {"error": message}, JSON, keep=False)
        self.transport.pause_reading()
        self._work()

    def _close(self) -> None:
        self.closing = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class HTTPServer:
    """One listening socket serving `handler`; close() stops listening and closes every connection."""

    def __init__(self, handler, host: str, port: int, max_body: int):
        self.handler = handler
        self.host, self.port = host, port
        self.max_body = max_body
        self.conns: set[_Connection] = set()
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), self.host, self.port, reuse_address=True)

    @property
    def address(self) -> str:
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"{host}:{port}"

    async def call(self, req: Request):
        try:
            answer = await self.handler(req)
        except Exception as e:
            log.exception("handling %s %s", req.method, req.target)
            answer = 500, {"error": f"internal: {e}"}, JSON
        return answer if len(answer) == 4 else (*answer, "")

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for c in list(self.conns):
            c._close()
