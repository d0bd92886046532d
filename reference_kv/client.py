"""Client library for the reference KV: blocking, plain sockets, no threads.

`http.client` over the `socket` module, so it is gevent-friendly once
monkey-patched (Locust). One keep-alive connection per node.

Outcome semantics (what the history needs):
- `DefiniteError`: the operation certainly did not take effect. Raised when no
  attempt could have reached a node's state machine: every attempt was refused
  before the request was sent, or answered with an explicit error (503
  not_leader, 400, 413). Reads never take effect, so a read that fails is
  always definite.
- `IndeterminateError`: it may or may not have taken effect: some attempt was
  sent and then timed out, lost its connection, or got 504.
- Regions (`python -m reference_kv.regions`): the client keeps a route cache
  (key -> Region id, epoch, leader address) learned from `GET /regions` on
  first use and refreshed from 409 epoch_not_match (which lists the current
  Regions; nothing was applied) and 503 not_leader hints; requests name the
  Region they mean (`?region_id=&epoch=`). Against a single-group node
  `/regions` is 404 and the client behaves as before.
- A write is retried with the SAME request id. The server's sessions apply a
  request id at most once and answer a retry with the stored result, so a 200
  after earlier indeterminate attempts is authoritative (the write took effect
  exactly once, and a CAS's true/false is the original outcome). A definite
  error after an indeterminate attempt does not clear the doubt: the earlier
  attempt may still commit, so the overall outcome stays indeterminate.
"""
from __future__ import annotations

import http.client
import itertools
import json
import random
import time
import uuid
from urllib.parse import quote

from reference_kv import readmodes
from reference_kv.regions.routes import RouteCache


class ClientError(Exception):
    """Base of the two outcomes a failed operation can have."""


class DefiniteError(ClientError):
    """The operation definitely did not take effect."""


class IndeterminateError(ClientError):
    """The operation may or may not have taken effect (now or later)."""


class _NotSent(Exception):
    pass


class _Lost(Exception):
    pass


# Short cap: on loopback a new leader is usually up within 200 ms, and a client
# that sleeps longer than that only adds to the observed recovery time.
_BACKOFF_MIN, _BACKOFF_MAX = 0.02, 0.1


class Client:
    def __init__(self, addresses: list[str], timeout: float = 5.0, attempt_timeout: float = 1.0,
                 client_id: str | None = None):
        if not addresses:
            raise ValueError("Client needs at least one address")
        self.addresses = list(addresses)
        self.timeout = timeout
        self.attempt_timeout = attempt_timeout
        self.client_id = client_id or uuid.uuid4().hex[:16]
        self._seq = itertools.count(1)
        self._conns: dict[str, http.client.HTTPConnection] = {}
        self._leader: str | None = None
        self._rr = random.randrange(len(self.addresses))
        self.last_node: str | None = None  # which node answered the last operation
        self._routes = RouteCache()
        self._regions_mode: bool | None = None  # None: not asked yet; False: a single-group node
        self._routes_fetched = 0.0

    # --- public API ----------------------------------------------------------
    def get(self, key: str, read: str = readmodes.DEFAULT):
        any_node = read not in readmodes.AT_LEADER
        body = self._call("GET", f"/kv/{quote(key, safe='')}?read={read}", None, idempotent=True,
                          any_node=any_node, key=key)
        return body.get("value")

    def put(self, key: str, value) -> None:
        self._write("PUT", f"/kv/{quote(key, safe='')}", {"value": value}, key)

    def delete(self, key: str) -> None:
        self._write("DELETE", f"/kv/{quote(key, safe='')}", {}, key)

    def cas(self, key: str, expected, new) -> bool:
        return bool(self._write("POST", f"/kv/{quote(key, safe='')}/cas", {"expected": expected, "new": new},
                                key).get("ok"))

    def append(self, key: str, s: str) -> None:
        self._write("POST", f"/kv/{quote(key, safe='')}/append", {"value": s}, key)

    def regions(self) -> list[dict]:
        """The Region directory as the cluster knows it now (empty for a single-group node)."""
        self._refresh_routes(force=True)
        return [dict(r.to_json(), leader_address=self._routes.leaders.get(r.id)) for r in self._routes.map]

    def status(self, address: str) -> dict:
        status, body = self._once(address, "GET", "/status", None, self.attempt_timeout)
        return body

    def close(self) -> None:
        for c in self._conns.values():
            c.close()
        self._conns.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- retry loop ----------------------------------------------------------
    def _write(self, method: str, path: str, payload: dict, key: str) -> dict:
        payload["request_id"] = f"{self.client_id}:{next(self._seq)}"
        return self._call(method, path, payload, idempotent=False, any_node=False, key=key)

    # --- Region routes -------------------------------------------------------
    def _refresh_routes(self, force: bool = False) -> None:
        """Ask one node for `/regions`, at most every 0.2 s unless forced; 404 = a single-group node."""
        if self._regions_mode is False or (not force and time.monotonic() - self._routes_fetched < 0.2):
            return
        self._routes_fetched = time.monotonic()
        for _ in range(len(self.addresses)):
            addr = self._next_any()
            try:
                status, body = self._once(addr, "GET", "/regions", None, self.attempt_timeout)
            except (_NotSent, _Lost):
                continue
            if status == 404:
                self._regions_mode = False
            elif status == 200:
                self._regions_mode = True
                self._routes.learn(body.get("regions") if isinstance(body, dict) else body)
            return

    def _routed(self, path: str, key: str | None, any_node: bool):
        """-> (address or None, path naming the Region, region) from the route cache."""
        if key is None or self._regions_mode is False:
            return None, path, None
        if self._regions_mode is None:
            self._refresh_routes()
        region, leader = self._routes.lookup(key)
        if region is None:
            return None, path, None
        sep = "&" if "?" in path else "?"
        return (None if any_node else leader), f"{path}{sep}region_id={region.id}&epoch={region.epoch}", region

    def _call(self, method, path, payload, idempotent: bool, any_node: bool, key: str | None = None) -> dict:
        body = None if payload is None else json.dumps(payload).encode()
        deadline = time.monotonic() + self.timeout
        maybe_applied = False
        backoff = _BACKOFF_MIN
        last = "no attempt"
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            routed, rpath, region = self._routed(path, key, any_node)
            addr = self._next_any() if any_node else (routed or self._leader or self._next_any())
            try:
                status, resp = self._once(addr, method, rpath, body, min(remaining, self.attempt_timeout))
            except _NotSent as e:
                last = f"{addr}: {e}"
                self._forget(addr, region)
                self._sleep(backoff, deadline)
                backoff = min(backoff * 2, _BACKOFF_MAX)
                continue
            except _Lost as e:
                last = f"{addr}: {e}"
                maybe_applied = maybe_applied or not idempotent
                self._forget(addr, region)
                self._sleep(backoff, deadline)
                backoff = min(backoff * 2, _BACKOFF_MAX)
                continue
            self.last_node = addr
            if status == 200:
                if not any_node:
                    self._leader = addr
                    if region is not None:
                        self._routes.set_leader(region.id, addr)
                return resp
            err = resp.get("error", f"HTTP {status}")
            last = f"{addr}: {status} {err}"
            if status in (400, 404, 405, 413):
                if maybe_applied:
                    raise IndeterminateError(f"{last} (after an attempt with unknown outcome)")
                raise DefiniteError(last)
            if status == 409 and err == "epoch_not_match":
                # Nothing was applied; the body lists the Regions as that node knows them.
                self._regions_mode = True
                self._routes.learn(resp.get("regions"))
                now, leader = self._routes.lookup(key) if key is not None else (None, None)
                if now is not None and now != region:
                    if not leader:
                        # A split's parent leader campaigns for the new half at once: likely its leader too.
                        self._routes.set_leader(now.id, addr)
                    continue  # a newer layout: worth trying at once
                if region is not None:
                    self._routes.map.remove(region.id)  # nothing newer came back: route by key afresh
                self._sleep(_BACKOFF_MIN, deadline)
                continue
            if status == 503 and err == "not_leader":
                hint = resp.get("leader_address")
                if region is not None:
                    self._routes.set_leader(region.id, hint if hint != addr else None)
                if hint and hint != addr:
                    if hint not in self.addresses:
                        self.addresses.append(hint)
                    self._leader = hint
                    continue  # a fresh hint is worth trying at once
                self._leader = None
                if self._regions_mode:
                    self._refresh_routes()
            else:  # 504 timeout, 500: the attempt may have been applied
                maybe_applied = maybe_applied or not idempotent
            self._sleep(backoff, deadline)
            backoff = min(backoff * 2, _BACKOFF_MAX)
        if maybe_applied:
            raise IndeterminateError(f"gave up after {self.timeout}s; last: {last}")
        raise DefiniteError(f"gave up after {self.timeout}s; last: {last}")

    def _forget(self, addr: str, region) -> None:
        if self._leader == addr:
            self._leader = None
        if region is not None and self._routes.leaders.get(region.id) == addr:
            self._routes.set_leader(region.id, None)

    def _next_any(self) -> str:
        self._rr = (self._rr + 1) % len(self.addresses)
        return self.addresses[self._rr]

    @staticmethod
    def _sleep(seconds: float, deadline: float) -> None:
        time.sleep(max(0.0, min(seconds * (0.5 + random.random()), deadline - time.monotonic())))

    # --- one attempt ---------------------------------------------------------
    def _once(self, addr: str, method: str, path: str, body: bytes | None, timeout: float):
        conn = self._conns.get(addr)
        fresh = conn is None or conn.sock is None
        if fresh:
            host, _, port = addr.rpartition(":")
            conn = self._conns[addr] = http.client.HTTPConnection(host, int(port), timeout=timeout)
            try:
                conn.connect()
            except OSError as e:
                self._drop(addr)
                raise _NotSent(str(e) or type(e).__name__) from None
        conn.sock.settimeout(timeout)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            status = r.status
        except (OSError, http.client.HTTPException) as e:
            self._drop(addr)
            raise _Lost(str(e) or type(e).__name__) from None
        if r.will_close:
            self._drop(addr)
        try:
            obj = json.loads(data) if data else {}
        except ValueError:
            obj = {"error": data[:200].decode("latin-1")}
        if isinstance(obj, list):  # GET /regions
            obj = {"regions": obj}
        return status, obj if isinstance(obj, dict) else {"error": "unexpected body"}

    def _drop(self, addr: str) -> None:
        c = self._conns.pop(addr, None)
        if c is not None:
            c.close()

