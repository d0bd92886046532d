"""Lease reads across a process pause: the lease is measured in real time, not in the
ticks the paused process happened to run. The leader is cut off AND stopped, the
others elect a new leader and accept a write, and a read that waited in the old
leader's socket is the first thing it handles on resume."""
from __future__ import annotations

import http.client
import json
import time

import pytest

from nemesis.backends.local import LocalBackend
from nemesis.types import NodeSpec

from reference_kv import admin
from reference_kv.launch import placed_argv

from .harness import http_or_none

pytestmark = pytest.mark.integration


def argv(a):
    return placed_argv(a, storage="memory", read_mode="lease")


def leader_among(b, nodes):
    for n in nodes:
        if (admin.status(str(b.addresses(n).client), 0.5) or {}).get("role") == "leader":
            return n
    return None


def wait(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def backend(tmp_path):
    b = LocalBackend(tmp_path / "kv", "leasepause")
    try:
        b.setup([NodeSpec(id=str(i), argv=argv) for i in (1, 2, 3)])
        for n in b.nodes():
            b.start(n)
        yield b
    finally:
        b.teardown()


def test_a_paused_and_partitioned_lease_leader_serves_no_stale_read_on_resume(backend):
    b = backend
    old = wait(lambda: leader_among(b, b.nodes()), 20, "a leader")
    assert http_or_none(b.addresses(old).client, "PUT", "/kv/k", {"value": "before", "request_id": "t:1"})[0] == 200
    rest = [n for n in b.nodes() if n != old]
    for n in rest:
        b.cut(n, old)
        b.cut(old, n)
    b.pause(old)
    conn = None
    try:
        new = wait(lambda: leader_among(b, rest), 20, "a new leader among the others")
        assert http_or_none(b.addresses(new).client, "PUT", "/kv/k", {"value": "after", "request_id": "t:2"})[0] == 200
        addr = b.addresses(old).client
        conn = http.client.HTTPConnection(addr.host, addr.port, timeout=10)
        conn.request("GET", "/kv/k?read=lease")  # waits in the stopped leader's socket
    finally:
        b.resume(old)
    resp = conn.getresponse()
    body = json.loads(resp.read() or b"null")
    conn.close()
    assert not (resp.status == 200 and body.get("value") == "before"), f"stale read from an expired lease: {body}"
    b.restore_all()
