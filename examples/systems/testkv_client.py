"""A Python client for examples/systems/testkv.py: the worked example of the Python client
contract (docs/testing-your-system.md, "Your own Python client").

    [client]
    protocol = "python:testkv_client:TestKVClient"

It runs inside the suite's load process, where Locust has monkey-patched the standard
library with gevent: `socket`, `http.client`, `time.sleep` and `select` yield to the other
load users instead of blocking them, so plain blocking code is right here. What a client
must do:

- raise `DefiniteError` when the operation certainly did not take effect (the connection
  was refused, the server said no before doing anything) and `IndeterminateError` when it
  may have (a timeout or a lost connection after the request went out);
- catch gevent's `Timeout` if it uses one: it is a `BaseException`, so `except Exception`
  does not stop it, and one that escapes is recorded as an unknown outcome;
- never retry in a loop while the node is unreachable: under gevent a loop that does not
  yield starves every other user, and one that does floods a dead port. Fail the
  operation (definitely, if nothing was sent) and move to the next node for the next one:
  the suite paces the load.
"""
from __future__ import annotations

import http.client
import json
import socket
from urllib.parse import quote

from workloads.errors import DefiniteError, IndeterminateError


class TestKVClient:
    READ_MODES = ()  # testkv reads one way

    def __init__(self, endpoints, timeout=1.0, read_mode=None, start=0):
        self.endpoints, self.timeout = list(endpoints), timeout
        self.current = start  # each load user starts at its own node
        self.conn = None
        self.node = None  # which node served the last request: shown in the report

    def _request(self, method, path, body=None):
        address = self.endpoints[self.current % len(self.endpoints)]
        self.node = address
        if self.conn is None:
            host, _, port = address.rpartition(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=self.timeout)
            try:
                conn.connect()
            except OSError as e:  # refused or unreachable: nothing was sent
                self.current += 1  # the next operation tries the next node
                raise DefiniteError("connect", f"{address}: {e}") from None
            self.conn = conn
        try:
            self.conn.request(method, path, body=None if body is None else json.dumps(body),
                              headers={"Content-Type": "application/json"})
            resp = self.conn.getresponse()
            raw = resp.read()
        except (socket.timeout, OSError, http.client.HTTPException) as e:  # the request may have been applied
            self.close()
            kind = "timeout" if isinstance(e, socket.timeout) else "connection lost"
            raise IndeterminateError(kind, repr(e)) from None
        if resp.status >= 500:
            raise IndeterminateError(f"http-{resp.status}", raw[:200].decode("utf-8", "replace"))
        return resp.status, (json.loads(raw) if raw else None)

    def read(self, key):
        status, body = self._request("GET", "/kv/" + quote(key, safe=""))
        return None if status == 404 else body["value"]

    def write(self, key, value):
        self._request("PUT", "/kv/" + quote(key, safe=""), {"value": value})

    def cas(self, key, expected, new):
        status, _ = self._request("POST", "/kv/" + quote(key, safe="") + "/cas", {"expected": expected, "new": new})
        return status == 200  # 409: the comparison did not match, nothing was written

    def delete(self, key):
        self._request("DELETE", "/kv/" + quote(key, safe=""))

    def get(self, key):  # the kv model's names for the same store
        return self.read(key)

    def put(self, key, value):
        self.write(key, value)

    def append(self, key, suffix):
        raise DefiniteError("unsupported", "testkv has no append")  # nothing was sent

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None
