"""Real servers for the workload tests: etcd (3 members), the in-memory stand-in, a hanging port.

Nothing here imports Locust: it gevent-patches the process it is imported in,
and pytest's process is shared with every other room's tests. Load runs go
through `python -m workloads.run` in a child process instead (load_helpers.py).
This directory is no package: as one it would be named `workloads` and hide the
real one from every test that imports it after this file.
"""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading

import pytest

from bench.workloads.clusters import etcd_cluster, reference_kv_cluster
from load_helpers import REPO
from reference_kv.launch import free_ports
from system_parts import require



@pytest.fixture(scope="session")
def etcd():
    require("etcd")
    with etcd_cluster(3) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def reference_kv():
    try:
        cluster = reference_kv_cluster(3)
    except RuntimeError as e:
        pytest.skip(f"reference KV cluster does not start yet: {str(e).splitlines()[0]}")
    with cluster:
        yield cluster


def start_standin(*extra: str) -> tuple[subprocess.Popen, str]:
    port = free_ports(1)[0]
    proc = subprocess.Popen([sys.executable, "-m", "bench.workloads.standin", "--listen", f"127.0.0.1:{port}", *extra],
                            cwd=REPO, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    proc.stderr.readline()  # "listening on ..." once the socket is bound
    if proc.poll() is not None:
        raise RuntimeError(f"the stand-in server exited with {proc.returncode}")
    return proc, f"127.0.0.1:{port}"


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def standin():
    proc, address = start_standin()
    try:
        yield address
    finally:
        stop(proc)


@pytest.fixture
def stale_standin():
    proc, address = start_standin("--unsafe-stale-reads", "0.3")
    try:
        yield address
    finally:
        stop(proc)


@pytest.fixture
def dead_address():
    """A loopback port nobody listens on (it was free a moment ago)."""
    return f"127.0.0.1:{free_ports(1)[0]}"


@pytest.fixture
def hanging_address():
    """Accepts connections, reads what comes, never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    accepted: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except (socket.timeout, OSError):
                continue
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        done.set()
        thread.join(2)
        for c in accepted:
            c.close()
        listener.close()
