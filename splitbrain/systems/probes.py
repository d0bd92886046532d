"""How the suite asks a node whether it is up and whom it follows, for systems described by a file.

Readiness: `tcp` (the client port accepts a connection), `http` (a URL answers
with a status below 500, and optionally a JSON field has a value) or `redis`
(PING answers PONG). Leader: `http` (a JSON field names the leader; another,
optionally, names the node itself, and one the term; each may come from its own
request) or `command` (a command prints that JSON) or `redis` (INFO
replication: a primary leads, a replica names its primary). Every probe opens
its own connection: probes must not share state with the load.
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


class ProbeAnswer(ValueError):
    """A probe got an answer that says nothing usable (an error status, not JSON): the message says what."""


def short(raw) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:299] + "…"


def http_ready(url: str, timeout: float, json_field: str | None = None, expected=None) -> bool:
    """The URL answers below 500 and, with `json_field`, its JSON has that (dotted) field equal to
    `expected` (or true-ish when `expected` is None)."""
    try:
        code, reply = http_request(url, timeout=timeout)
    except (OSError, http.client.HTTPException):
        return False
    if code >= 500:
        return False
    if json_field is None:
        return True
    got = field(reply, json_field)
    return bool(got) if expected is None else got == expected


def field(body, dotted: str):
    for part in (p for p in dotted.split(".") if p):
        if not isinstance(body, dict):
            return None
        body = body.get(part)
    return body


def has_field(body, dotted: str) -> bool:
    """Is the (dotted) field there at all (a null value is there)?"""
    parts = [p for p in dotted.split(".") if p]
    for part in parts:
        if not isinstance(body, dict) or part not in body:
            return False
        body = body[part]
    return True


def http_json(url: str, method: str = "GET", body: str | None = None, timeout: float = 1.0) -> dict:
    """The JSON object a URL answers with 200; ProbeAnswer saying what came instead."""
    code, reply = http_request(url, method, body, timeout)
    if code != 200 or not isinstance(reply, dict):
        raise ProbeAnswer(f"HTTP {code}: {short(json.dumps(reply)) if reply is not None else 'no JSON object'}")
    return reply


def run_command(argv: list[str], timeout: float, cwd: str | None = None) -> bytes:
    """What a command prints when it exits 0 within `timeout` (killed after it); ProbeAnswer saying
    what happened instead (its exit status and last words, a timeout, no such program)."""
    import subprocess

    try:
        r = subprocess.run(argv, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL, cwd=cwd)
    except subprocess.TimeoutExpired:
        raise ProbeAnswer(f"{argv[0]} ran over {timeout:g} s") from None
    except OSError as e:
        raise ProbeAnswer(f"{argv[0]}: {e.strerror or e}") from None
    if r.returncode != 0:
        raise ProbeAnswer(f"exit {r.returncode}: {short(r.stderr or r.stdout)}")
    return r.stdout


def command_json(argv: list[str], timeout: float) -> dict:
    """The JSON object a command prints (exit 0); ProbeAnswer saying what came instead."""
    out = run_command(argv, timeout)
    try:
        reply = json.loads(out)
    except ValueError:
        raise ProbeAnswer(f"not JSON: {short(out)}") from None
    if not isinstance(reply, dict):
        raise ProbeAnswer(f"not a JSON object: {short(out)}")
    return reply


def leader_status(replies: dict, leader_field: str, self_name: str, self_field: str | None,
                  term_field: str | None) -> dict:
    """{"role", "leader", "term", "self"} from the JSON answers of a node's probe requests;
    `replies` maps "leader" | "self" | "term" to the answer holding that field."""
    me = str(field(replies["self"], self_field)) if self_field else self_name
    leader = field(replies["leader"], leader_field)
    leader = None if leader in (None, "", 0, "0") else str(leader)
    term = _int(field(replies["term"], term_field)) if term_field else None  # no term: elections are leader changes
    # Followers must name the leader as the leader names itself (see analysis.agreed_leader).
    return {"role": "leader" if leader is not None and leader == me else "follower",
            "leader": leader, "term": term, "self": me}


def http_leader(url: str, method: str, body: str | None, leader_field: str, self_name: str,
                self_field: str | None, term_field: str | None, timeout: float) -> dict | None:
    try:
        reply = http_json(url, method, body, timeout)
    except ProbeAnswer:
        return None
    return leader_status({"leader": reply, "self": reply, "term": reply}, leader_field, self_name, self_field,
                         term_field)


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
