"""Helpers for the nemesis tests: a stand-in node's specs and HTTP probes."""
from __future__ import annotations

import json
import pathlib
import socket
import sys
import time
import uuid

from nemesis.types import NodeSpec

HERE = pathlib.Path(__file__).resolve().parent
STANDIN = str(HERE / "standin_node.py")
# Every backend a test creates gets a run id under this prefix; the session sweep in
# conftest.py removes whatever a failing test may have left behind.
SESSION_PREFIX = "sbt" + uuid.uuid4().hex[:3]


def run_id() -> str:
    return SESSION_PREFIX + uuid.uuid4().hex[:3]


def standin_specs(n: int = 3, python: str = sys.executable, script: str = STANDIN) -> list[NodeSpec]:
    def argv(a):
        return [python, script, "--id", a.id, "--listen", str(a.client), "--peer-listen", str(a.peer),
                "--peers", a.dial_list(), "--data-dir", a.data_dir]
    return [NodeSpec(id=f"n{i + 1}", argv=argv) for i in range(n)]


def running_standins(backend_cls, workdir, rid: str, n: int = 3):
    """A backend with n stand-in nodes started; yields it and always tears it down."""
    b = backend_cls(workdir / rid, rid)
    try:
        b.setup(standin_specs(n))
        for node in b.nodes():
            b.start(node)
        yield b
    finally:
        b.teardown()


def http_json(addr, path: str = "/status", timeout: float = 1.0):
    """GET over a fresh connection; None when the node does not answer in time."""
    try:
        with socket.create_connection((addr.host, addr.port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    except OSError:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    try:
        return json.loads(body)
    except ValueError:
        return None


def wait_until(pred, timeout: float = 10.0, every: float = 0.05, what: str = "condition"):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = pred()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def hears(backend, node: str, peer: str, fresh: float = 0.3) -> bool | None:
    """Whether node heard peer within `fresh` seconds; None if node does not answer."""
    st = http_json(backend.addresses(node).client)
    if st is None:
        return None
    age = st["heard"].get(peer)
    return age is not None and age < fresh
