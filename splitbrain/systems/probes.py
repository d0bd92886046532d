"""How the suite asks a node whether it is up and whom it follows, for systems described by a file.

Readiness: `tcp` (the client port accepts a connection), `http` (a URL answers
with a status below 500) or `redis` (PING answers PONG). Leader: `http` (a JSON
field names the leader; another, optionally, names the node itself, and one the
term) or `redis` (INFO replication: a primary leads, a replica names its primary).
Every probe opens its own connection: probes must not share state with the load.
"""
from __future__ import annotations

import http.client
import json
import socket
from urllib.parse import urlsplit

from nemesis.types import Addr


def tcp_ready(addr: Addr, timeout: float) -> bool:
    try:
        with socket.create_connection((addr.host, addr.port), timeout=timeout):
            return True
    except OSError:
        return False


def http_request(url: str, method: str = "GET", body: str | None = None, timeout: float = 1.0):
    """(status, decoded JSON or None) of one request on a fresh connection."""
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
    try:
        path = (u.path or "/") + (f"?{u.query}" if u.query else "")
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=None if body is None else body.encode(), headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        try:
            return resp.status, (json.loads(raw) if raw else None)
        except ValueError:
            return resp.status, None
    finally:
        conn.close()


def http_ready(url: str, timeout: float) -> bool:
    try:
        return http_request(url, timeout=timeout)[0] < 500
    except (OSError, http.client.HTTPException):
        return False


def field(body, dotted: str):
    for part in (p for p in dotted.split(".") if p):
        if not isinstance(body, dict):
            return None
        body = body.get(part)
    return body


def http_leader(url: str, method: str, body: str | None, leader_field: str, self_name: str,
                self_field: str | None, term_field: str | None, timeout: float) -> dict | None:
    code, reply = http_request(url, method, body, timeout)
    if code != 200 or not isinstance(reply, dict):
        return None
    me = str(field(reply, self_field)) if self_field else self_name
    leader = field(reply, leader_field)
    leader = None if leader in (None, "", 0, "0") else str(leader)
    term = _int(field(reply, term_field)) if term_field else None  # no term: elections are leader changes
    # Followers must name the leader as the leader names itself (see analysis.agreed_leader).
    return {"role": "leader" if leader is not None and leader == me else "follower",
            "leader": leader, "term": term, "self": me}


def _int(v) -> int | None:
    """A term as an int, or None when the answer has none (a missing field is not term 0)."""
    if isinstance(v, bool) or v is None:
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _redis(addr: Addr, timeout: float, *command):
    from workloads.clients.resp import RespConnection

    conn = RespConnection(str(addr), timeout)
    try:
        return conn.call(*command)
    finally:
        conn.close()


def redis_ready(addr: Addr, timeout: float) -> bool:
    try:
        return _redis(addr, timeout, "PING") == "PONG"
    except Exception:  # noqa: BLE001 - not ready, whatever the reason (LOADING, refused, ...)
        return False


def redis_role(addr: Addr, timeout: float) -> dict | None:
    """A primary leads (named by its own address); a replica names the primary it replicates."""
    try:
        raw = _redis(addr, timeout, "INFO", "replication")
    except Exception:  # noqa: BLE001 - unreachable is data for the monitor
        return None
    info = dict(line.split(":", 1) for line in raw.decode().splitlines() if ":" in line)
    if info.get("role") == "master":
        return {"role": "leader", "leader": str(addr), "term": None, "replicas": int(info.get("connected_slaves", 0))}
    return {"role": "follower", "leader": f"{info.get('master_host')}:{info.get('master_port')}", "term": None,
            "link": info.get("master_link_status")}
