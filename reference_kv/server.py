"""The client HTTP/JSON API and, on its own port, the admin API.

HTTP itself is reference_kv.httpserver's (llhttp through httptools). Routes
map onto `node.Node` coroutines. The node raises the KV's own errors
(reference_kv.errors); this module alone says which HTTP status each means:
503 not leader (with a hint), 504 outcome unknown, 409 refused or epoch not
match, 400 bad request.

The client port serves /kv/, /status and /metrics. Membership and leader
transfer (/admin/...) are served only on the admin port (`admin_listen`),
and only to requests that carry the admin token (reference_kv.admintoken):
401 otherwise. A node started without an admin address has no admin API.
"""
from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs, unquote, urlsplit

from reference_kv import admintoken, errors
from reference_kv.httpserver import JSON, HTTPServer, Request
from reference_kv.readmodes import READ_MODES  # noqa: F401 - the suite asks here too; reference_kv.readmodes owns them
from reference_kv.statemachine import canonical

# A write's answer, made once: every write ends in one of the two
_OK = {True: b'{"ok": true}', False: b'{"ok": false}'}

log = logging.getLogger("reference_kv.server")


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


async def _answer(route, *args):
    """route(*args) -> (status, body, ctype), with the KV's and this module's errors as their answers."""
    try:
        return await route(*args)
    except HTTPError as e:
        return e.status, e.body, JSON
    except errors.KVError as e:
        h = http_error(e)
        return h.status, h.body, JSON


class Server:
    def __init__(self, node, listen_host: str, listen_port: int, max_value_bytes: int = 1 << 20,
                 admin_listen: tuple[str, int] | None = None, admin_token: str | None = None, metrics=None):
        """admin_listen: (host, port) of the admin API, which needs admin_token; metrics() -> exposition
        bytes and content type (default: reference_kv.metrics.Exposition of the node, the process's registry)."""
        if admin_listen is not None and not admin_token:
            raise ValueError("the admin API needs a token (--admin-token-file)")
        self.node = node
        self.host, self.port = listen_host, listen_port
        self.max_value_bytes = max_value_bytes
        self.max_body = max_value_bytes + 4096
        self.admin_token = admin_token
        if metrics is None:
            from reference_kv.metrics import Exposition
            metrics = Exposition(node)
        self.metrics = metrics
        self.client_http = HTTPServer(self._client_request, listen_host, listen_port, self.max_body)
        self.admin_http = (None if admin_listen is None
                           else HTTPServer(self._admin_request, admin_listen[0], admin_listen[1], 64 << 10))

    async def start(self):
        await self.client_http.start()
        if self.admin_http is not None:
            try:
                await self.admin_http.start()
            except OSError:
                await self.client_http.close()
                raise

    async def close(self):
        for h in (self.client_http, self.admin_http):
            if h is not None:
                await h.close()

    async def _client_request(self, req: Request):
        return await _answer(self._route, req.method, req.target, req.body)

    async def _admin_request(self, req: Request):
        if not admintoken.matches(req.headers.get("authorization"), self.admin_token):
            return 401, {"error": "the admin API needs its token: Authorization: Bearer TOKEN"}, JSON, \
                'WWW-Authenticate: Bearer realm="reference_kv admin"\r\n'
        return await _answer(self._admin, req.method, urlsplit(req.target).path, req.body)

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
                return 200, b'{"value":' + (raw if raw is not None else b"null") + b"}", JSON
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
            return 200, _OK[bool(result)], JSON
        if path == "/status" and method == "GET":
            return 200, node.status(), JSON
        if path == "/metrics" and method == "GET":
            return 200, *self.metrics()
        if path.startswith("/admin/"):
            raise HTTPError(404, {"error": f"no route {method} {path} on the client port: the admin API has its "
                                           f"own port (--admin-listen)"})
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
            return 200, {"ok": True}, JSON
        if len(parts) >= 3 and parts[:2] == ["admin", "members"] and parts[2].isdigit():
            nid = int(parts[2])
            if parts[3:] == ["promote"] and method == "POST":
                await node.promote(nid)
                return 200, {"ok": True}, JSON
            if len(parts) == 3 and method == "DELETE":
                await node.remove(nid)
                return 200, {"ok": True}, JSON
        if parts == ["admin", "transfer-leader"] and method == "POST":
            try:
                to = int(obj["to"])
            except (KeyError, ValueError, TypeError):
                raise bad("need {\"to\": node id}") from None
            await node.transfer_leader(to)
            return 200, {"ok": True}, JSON
        raise HTTPError(404, {"error": f"no route {method} {path}"})
