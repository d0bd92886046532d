"""The client HTTP/JSON API: a small asyncio HTTP/1.1 server with keep-alive.

No framework: requests are parsed by hand (request line, headers,
Content-Length body) because that is all the API needs and it keeps the hot
path short. One bad request gets its 400/413 and only its own connection may
close; other clients never notice.

Routes map onto `node.Node` coroutines. The node raises the KV's own errors
(reference_kv.errors); this module alone says which HTTP status each means:
503 not leader (with a hint), 504 outcome unknown, 409 refused or epoch not
match, 400 bad request.
"""
from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import parse_qs, unquote, urlsplit

from reference_kv import errors
from reference_kv.readmodes import READ_MODES  # noqa: F401 - the suite asks here too; reference_kv.readmodes owns them

log = logging.getLogger("reference_kv.server")

MAX_HEADER = 16 << 10
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            413: "Payload Too Large", 500: "Internal Server Error", 503: "Service Unavailable",
            504: "Gateway Timeout"}


class HTTPError(Exception):
    def __init__(self, status: int, body: dict):
        super().__init__(body.get("error", ""))
        self.status = status
        self.body = body


def bad(msg: str) -> HTTPError:
    return HTTPError(400, {"error": msg})


def http_error(e: errors.KVError) -> HTTPError:
    """The HTTP answer to one of the KV's errors."""
    if isinstance(e, errors.NotLeader):
        return HTTPError(503, {"error": "not_leader", "leader": e.leader or None, "leader_address": e.address})
    if isinstance(e, errors.Timeout):
        return HTTPError(504, {"error": "timeout", "detail": e.detail})
    if isinstance(e, errors.EpochNotMatch):
        return HTTPError(409, {"error": "epoch_not_match", "regions": e.regions})
    if isinstance(e, errors.Refused):
        return HTTPError(409, {"error": str(e)})
    return HTTPError(400, {"error": str(e)})


class Server:
    def __init__(self, node, listen_host: str, listen_port: int, max_value_bytes: int = 1 << 20):
        self.node = node
        self.host, self.port = listen_host, listen_port
        self.max_value_bytes = max_value_bytes
        self.max_body = max_value_bytes + 4096
        self._server: asyncio.AbstractServer | None = None
        self._conns: set[asyncio.StreamWriter] = set()

    async def start(self):
        self._server = await asyncio.start_server(self._serve, self.host, self.port,
                                                  reuse_address=True, limit=MAX_HEADER * 2)

    async def close(self):
        if self._server is not None:
            self._server.close()
        for w in list(self._conns):
            w.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._conns.add(writer)
        try:
            while True:
                keep = await self._one(reader, writer)
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        except Exception:
            log.exception("client connection")
        finally:
            self._conns.discard(writer)
            writer.close()

    async def _one(self, reader, writer) -> bool:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as e:
            if e.partial:
                self._respond(writer, 400, {"error": "incomplete request"}, False)
            return False
        except asyncio.LimitOverrunError:
            self._respond(writer, 400, {"error": "headers too large"}, False)
            return False
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._respond(writer, 400, {"error": "malformed request line"}, False)
            return False
        method, target, version = parts
        headers = {}
        for line in lines[1:]:
            if line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        keep = headers.get("connection", "").lower() != "close" and version == "HTTP/1.1"
        try:
            length = int(headers.get("content-length", "0"))
            if length < 0:
                raise ValueError
        except ValueError:
            self._respond(writer, 400, {"error": "bad Content-Length"}, False)
            return False
        if length > self.max_body:
            # Do not read a huge body; answer and close so the stream stays in sync.
            self._respond(writer, 413, {"error": f"request larger than {self.max_body} bytes"}, False)
            return False
        body = await reader.readexactly(length) if length else b""
        try:
            status, resp, ctype = await self._route(method, target, body)
        except HTTPError as e:
            status, resp, ctype = e.status, e.body, "application/json"
        except errors.KVError as e:
            h = http_error(e)
            status, resp, ctype = h.status, h.body, "application/json"
        except Exception as e:
            log.exception("handling %s %s", method, target)
            status, resp, ctype = 500, {"error": f"internal: {e}"}, "application/json"
        self._respond(writer, status, resp, keep, ctype)
        await writer.drain()
        return keep

    def _respond(self, writer, status: int, body, keep: bool, ctype: str = "application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        writer.write(
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(data)}\r\n{'' if keep else 'Connection: close' + chr(13) + chr(10)}\r\n".encode()
            + data
        )

    def _json(self, body: bytes) -> dict:
        if not body:
            return {}
        try:
            obj = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise bad(f"malformed JSON: {e}") from None
        if not isinstance(obj, dict):
            raise bad("body must be a JSON object")
        return obj

    def _value(self, obj: dict, name: str) -> bytes:
        from reference_kv.statemachine import canonical
        if name not in obj:
            raise bad(f"missing {name!r}")
        v = canonical(obj[name])
        if len(v) > self.max_value_bytes:
            raise HTTPError(413, {"error": f"value larger than {self.max_value_bytes} bytes"})
        return v

    @staticmethod
    def _request_id(obj: dict) -> str | None:
        rid = obj.get("request_id")
        if rid is None:
            return None
        if not isinstance(rid, str) or ":" not in rid or not rid.rpartition(":")[2].isdigit():
            raise bad("request_id must be \"client:seq\" with an integer seq")
        return rid

    def _where(self, url) -> dict:
        """What a /kv/ request says about where its key lives, passed on to the node (Regions name one)."""
        return {}

    async def _route(self, method: str, target: str, body: bytes):
        url = urlsplit(target)
        path = url.path
        node = self.node
        if path.startswith("/kv/"):
            rest = unquote(path[4:])
            op = None
            for suffix in ("/cas", "/append"):
                if method == "POST" and rest.endswith(suffix):
                    rest, op = rest[: -len(suffix)], suffix[1:]
            key = rest
            if not key:
                raise bad("empty key")
            where = self._where(url)
            if method == "GET":
                raw = await node.read(key, parse_qs(url.query).get("read", [None])[0], **where)
                return 200, b'{"value":' + (raw if raw is not None else b"null") + b"}", "application/json"
            obj = self._json(body)
            rid = self._request_id(obj)
            if method == "PUT":
                result = await node.write("p", key, self._value(obj, "value"), None, rid, **where)
            elif method == "DELETE":
                result = await node.write("d", key, None, None, rid, **where)
            elif op == "cas":
                result = await node.write("c", key, self._value(obj, "expected"), self._value(obj, "new"), rid, **where)
            elif op == "append":
                s = obj.get("value")
                if not isinstance(s, str):
                    raise bad("append needs a string 'value'")
                if len(s.encode()) > self.max_value_bytes:
                    raise HTTPError(413, {"error": f"value larger than {self.max_value_bytes} bytes"})
                result = await node.write("a", key, s, None, rid, **where)
            else:
                raise HTTPError(405, {"error": f"{method} not allowed on /kv/<key>"})
            return 200, {"ok": bool(result)}, "application/json"
        if path == "/status" and method == "GET":
            return 200, node.status(), "application/json"
        if path == "/metrics" and method == "GET":
            return 200, node.metrics_text().encode(), "text/plain; version=0.0.4"
        if path.startswith("/admin/"):
            return await self._admin(method, path, body)
        raise HTTPError(404, {"error": f"no route {method} {path}"})

    async def _admin(self, method: str, path: str, body: bytes):
        node = self.node
        obj = self._json(body)
        parts = path.strip("/").split("/")
        if parts == ["admin", "members"] and method == "POST":
            try:
                nid = int(obj["id"])
                peer, client = str(obj["peer_address"]), str(obj.get("address") or "")
            except (KeyError, ValueError, TypeError):
                raise bad("need {\"id\": int, \"peer_address\": \"host:port\", \"address\": \"host:port\"}") from None
            await node.add_learner(nid, peer, client)
            return 200, {"ok": True}, "application/json"
        if len(parts) >= 3 and parts[:2] == ["admin", "members"] and parts[2].isdigit():
            nid = int(parts[2])
            if parts[3:] == ["promote"] and method == "POST":
                await node.promote(nid)
                return 200, {"ok": True}, "application/json"
            if len(parts) == 3 and method == "DELETE":
                await node.remove(nid)
                return 200, {"ok": True}, "application/json"
        if parts == ["admin", "transfer-leader"] and method == "POST":
            try:
                to = int(obj["to"])
            except (KeyError, ValueError, TypeError):
                raise bad("need {\"to\": node id}") from None
            await node.transfer_leader(to)
            return 200, {"ok": True}, "application/json"
        raise HTTPError(404, {"error": f"no route {method} {path}"})
