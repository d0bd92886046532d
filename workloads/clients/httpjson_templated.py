"""Any HTTP/JSON store, described by routes instead of code.

A spec (from a system.toml's [client] table, or a load config's "system" object):

    {"protocol": "http-json",
     "routes": {"read":  {"method": "GET",  "path": "/kv/{key}", "value": "value"},
                "write": {"method": "PUT",  "path": "/kv/{key}", "body": "{\"value\": {value}}"},
                "cas":   {"method": "POST", "path": "/kv/{key}/cas",
                          "body": "{\"expected\": {expected}, \"new\": {new}}", "ok": "ok"}},
     "absent": [404], "compare_failed": [409, 412], "not_applied": [503]}

In a path `{key}` is URL-quoted; in a body every placeholder (`{key}`, `{value}`,
`{expected}`, `{new}`, `{suffix}`, `{request_id}`) becomes a JSON value, so
`{"value": {value}}` is valid JSON for any value. `value` names the (dotted)
response field holding a read's value ("" = the whole body); `ok` optionally
names a boolean field saying whether a cas matched.

Statuses: 2xx succeeded; `absent` on a read means no value; `compare_failed` on a
cas means the comparison did not match; `not_applied` and every other 4xx mean
the request definitely did not take effect; anything else (5xx, a timeout, a
dropped connection) is indeterminate.
"""
from __future__ import annotations

import itertools
import json
import re
import uuid
from typing import Any
from urllib.parse import quote

from workloads.clients.base import KVAliases
from workloads.clients.httpjson import JsonConnection
from workloads.errors import DefiniteError, IndeterminateError

OPERATIONS = ("read", "write", "cas", "delete", "append")
REQUIRED = ("read", "write")
METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH")
BODY_FIELDS = re.compile(r"\{(key|value|expected|new|suffix|request_id)\}")
PATH_FIELDS = re.compile(r"\{(key)\}")
ROUTE_KEYS = {"method", "path", "body", "value", "ok"}
SPEC_KEYS = {"protocol", "routes", "absent", "compare_failed", "not_applied"}


def _statuses(spec: dict, name: str, default: list[int]) -> frozenset[int]:
    value = spec.get(name, default)
    if not isinstance(value, list) or not all(isinstance(v, int) and 100 <= v <= 599 for v in value):
        raise ValueError(f"{name}: expected a list of HTTP status codes")
    return frozenset(value)


def validate(spec: dict) -> dict:
    """The spec with defaults, or ValueError naming the first bad key ("routes.read.path: ...")."""
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown key (expected one of {', '.join(sorted(SPEC_KEYS))})")
    routes = spec.get("routes")
    if not isinstance(routes, dict):
        raise ValueError("routes: expected a table of operations (read, write, cas, delete, append)")
    out_routes = {}
    for op in REQUIRED:
        if op not in routes:
            raise ValueError(f"routes.{op}: missing (read and write are required)")
    for op, route in routes.items():
        where = f"routes.{op}"
        if op not in OPERATIONS:
            raise ValueError(f"{where}: unknown operation (expected one of {', '.join(OPERATIONS)})")
        if not isinstance(route, dict):
            raise ValueError(f"{where}: expected a table with method and path")
        bad = sorted(set(route) - ROUTE_KEYS)
        if bad:
            raise ValueError(f"{where}.{bad[0]}: unknown key (expected one of {', '.join(sorted(ROUTE_KEYS))})")
        method = route.get("method", "GET" if op == "read" else "POST")
        if not isinstance(method, str) or method.upper() not in METHODS:
            raise ValueError(f"{where}.method: expected one of {', '.join(METHODS)}")
        path = route.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"{where}.path: expected a string starting with / (with {{key}} in it)")
        for name in ("body", "value", "ok"):
            if name in route and not isinstance(route[name], str):
                raise ValueError(f"{where}.{name}: expected a string")
        if "body" in route:
            try:
                json.loads(BODY_FIELDS.sub("0", route["body"]))
            except ValueError:
                raise ValueError(f"{where}.body: expected JSON once placeholders are filled in") from None
        out_routes[op] = {**route, "method": method.upper()}
    return {"protocol": spec.get("protocol", "http-json"), "routes": out_routes,
            "absent": sorted(_statuses(spec, "absent", [404])),
            "compare_failed": sorted(_statuses(spec, "compare_failed", [409, 412])),
            "not_applied": sorted(_statuses(spec, "not_applied", [503]))}


def _field(body: Any, dotted: str) -> Any:
    for part in (p for p in dotted.split(".") if p):
        if not isinstance(body, dict):
            return None
        body = body.get(part)
    return body


class TemplatedHttpClient(KVAliases):
    system = "http-json"
    READ_MODES = ()  # the routes read one way

    @staticmethod
    def check_options(options: dict) -> None:
        validate({"protocol": "http-json", **options})

    def __init__(self, endpoints: list[str], timeout: float = 1.0, read_mode: str | None = None,
                 start: int = 0, **spec: Any) -> None:
        if not endpoints:
            raise ValueError("http-json client needs at least one endpoint")
        spec = validate(spec)
        self.routes = spec["routes"]
        self.absent = frozenset(spec["absent"])
        self.compare_failed = frozenset(spec["compare_failed"])
        self.not_applied = frozenset(spec["not_applied"])
        self._conns = [JsonConnection(e, timeout) for e in endpoints]
        self._at = start % len(self._conns)
        self._ids = itertools.count(1)
        self._cid = uuid.uuid4().hex[:12]
        self.node: str | None = None

    def close(self) -> None:
        for c in self._conns:
            c.close()

    def _send(self, op: str, key: str, **values: Any) -> tuple[int, Any]:
        route = self.routes.get(op)
        if route is None:
            raise DefiniteError("unsupported", f"no route for {op} in the client description")
        values = {"key": key, "request_id": f"{self._cid}:{next(self._ids)}", **values}
        path = PATH_FIELDS.sub(lambda m: quote(key, safe=""), route["path"])
        body = None
        if "body" in route:
            body = json.loads(BODY_FIELDS.sub(lambda m: json.dumps(values.get(m.group(1))), route["body"]))
        last: DefiniteError | None = None
        for _ in range(len(self._conns)):
            conn = self._conns[self._at]
            try:
                status, reply = conn.request(route["method"], path, body)
            except DefiniteError as e:  # nothing sent: the next endpoint may serve it
                last = e
                self._at = (self._at + 1) % len(self._conns)
                continue
            self.node = conn.address
            return status, reply
        assert last is not None
        raise last

    def _fail(self, op: str, status: int, reply: Any) -> None:
        detail = f"{op}: HTTP {status} {json.dumps(reply)[:200]}"
        if status in self.not_applied or 400 <= status < 500:
            raise DefiniteError(f"http-{status}", detail)
        raise IndeterminateError(f"http-{status}", detail)

    def read(self, key: str) -> Any:
        status, reply = self._send("read", key)
        if status in self.absent:
            return None
        if not 200 <= status < 300:
            self._fail("read", status, reply)
        return _field(reply, self.routes["read"].get("value", "value"))

    def _simple(self, op: str, key: str, **values: Any) -> None:
        status, reply = self._send(op, key, **values)
        if not 200 <= status < 300:
            self._fail(op, status, reply)

    def write(self, key: str, value: Any) -> None:
        self._simple("write", key, value=value)

    def delete(self, key: str) -> None:
        self._simple("delete", key)

    def append(self, key: str, suffix: str) -> None:
        self._simple("append", key, suffix=suffix, value=suffix)

    def cas(self, key: str, expected: Any, new: Any) -> bool:
        status, reply = self._send("cas", key, expected=expected, new=new)
        if status in self.compare_failed:
            return False
        if not 200 <= status < 300:
            self._fail("cas", status, reply)
        ok = self.routes["cas"].get("ok")
        return bool(_field(reply, ok)) if ok else True
