"""A user-written client for the python:module:Class protocol (tests import it by name)."""
from __future__ import annotations

import json
import threading

from workloads.clients.base import KVAliases
from workloads.clients.httpjson import JsonConnection
from workloads.errors import DefiniteError, IndeterminateError


class DictClient(KVAliases):
    """An in-process dict: enough to show a user's class is found and driven."""

    system = "dict"
    node = None

    def __init__(self, endpoints, timeout=1.0, read_mode=None, start=0):
        self.data = {}

    def read(self, key):
        return self.data.get(key)

    def write(self, key, value):
        self.data[key] = value

    def delete(self, key):
        self.data.pop(key, None)

    def cas(self, key, expected, new):
        if self.data.get(key) != expected:
            return False
        self.data[key] = new
        return True

    def append(self, key, suffix):
        self.data[key] = self.data.get(key, "") + suffix

    def close(self):
        pass


class NotAClient:
    def read(self, key):
        return None


class TestKVClient(KVAliases):
    """The test HTTP KV (examples/systems/testkv.py) spoken to by hand, as a user would."""

    system = "testkv"

    def __init__(self, endpoints, timeout=1.0, read_mode=None, start=0):
        self.conn = JsonConnection(endpoints[start % len(endpoints)], timeout)
        self.node = self.conn.address

    def _call(self, method, path, body=None):
        status, reply = self.conn.request(method, path, body)
        if status >= 500:
            raise IndeterminateError(f"http-{status}", json.dumps(reply))
        return status, reply

    def read(self, key):
        status, reply = self._call("GET", f"/kv/{key}")
        return None if status == 404 else reply["value"]

    def write(self, key, value):
        self._call("PUT", f"/kv/{key}", {"value": value})

    def delete(self, key):
        self._call("DELETE", f"/kv/{key}")

    def cas(self, key, expected, new):
        return self._call("POST", f"/kv/{key}/cas", {"expected": expected, "new": new})[0] == 200

    def append(self, key, suffix):
        raise DefiniteError("unsupported", "the test KV has no append")

    def close(self):
        self.conn.close()
