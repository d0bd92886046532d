"""Throwaway local clusters on loopback for the workload tests and this benchmark.

Three etcd members (Debian's `etcd` binary) or three reference-KV nodes
(`python -m reference_kv`), on ports the kernel hands out, in a temporary
directory, stopped and removed by `close()` (use as a context manager). The
suite's nemesis backends own real runs; this is only enough to aim load at.
"""
from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import tempfile
import time
from typing import Callable

from reference_kv import admin, launch


def _http_ok(address: str, method: str, path: str, body: bytes | None = None) -> bool:
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=1)
    try:
        conn.request(method, path, body=body)
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


class LocalCluster:
    def __init__(self, name: str, size: int = 3) -> None:
        self.name = name
        self.size = size
        self.dir = tempfile.mkdtemp(prefix=f"splitbrain-{name}-")
        self.procs: list[subprocess.Popen] = []
        self.endpoints: list[str] = []

    def __enter__(self) -> "LocalCluster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _spawn(self, argv: list[str], log_name: str) -> None:
        log = open(os.path.join(self.dir, log_name), "wb")
        self.procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, start_new_session=True))
        log.close()

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {p.returncode} while {what}; logs in {self.dir}:\n"
                                       + self.logs())
            if ready():
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: timed out {what}; logs in {self.dir}:\n" + self.logs())

    def logs(self, tail: int = 2000) -> str:
        out = []
        for name in sorted(os.listdir(self.dir)):
            if name.endswith(".log"):
                with open(os.path.join(self.dir, name), "rb") as f:
                    out.append(f"--- {name}\n" + f.read()[-tail:].decode("utf-8", "replace"))
        return "\n".join(out)

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs.clear()
        shutil.rmtree(self.dir, ignore_errors=True)


def etcd_cluster(size: int = 3, binary: str = "etcd", host: str = "127.0.0.1") -> LocalCluster:
    """Starts `size` etcd members and returns once a write through the gateway succeeds."""
    exe = shutil.which(binary)
    if exe is None:
        raise RuntimeError(f"{binary} not found on PATH (Debian: apt-get install etcd-server)")
    cluster = LocalCluster("etcd", size)
    try:
        ports = launch.free_ports(2 * size, host)
        client_ports, peer_ports = ports[:size], ports[size:]
        initial = ",".join(f"m{i}=http://{host}:{peer_ports[i]}" for i in range(size))
        for i in range(size):
            client_url, peer_url = f"http://{host}:{client_ports[i]}", f"http://{host}:{peer_ports[i]}"
            cluster._spawn([
                exe, "--name", f"m{i}", "--data-dir", os.path.join(cluster.dir, f"m{i}"),
                "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
                "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
                "--initial-cluster", initial, "--initial-cluster-state", "new",
                "--initial-cluster-token", os.path.basename(cluster.dir),
                # Short timeouts so tests see elections in well under a second.
                "--heartbeat-interval", "50", "--election-timeout", "500",
                "--unsafe-no-fsync" if _etcd_has_flag(exe, "--unsafe-no-fsync") else "--quota-backend-bytes=0",
                "--logger", "zap", "--log-outputs", "stderr",
            ], f"m{i}.log")
            cluster.endpoints.append(f"{host}:{client_ports[i]}")
        probe = b'{"key":"c3BsaXRicmFpbi1wcm9iZQ==","value":"MQ=="}'
        cluster.wait_until(lambda: all(_http_ok(e, "POST", "/v3/kv/put", probe) for e in cluster.endpoints),
                           30, "waiting for the etcd cluster to accept writes")
        return cluster
    except BaseException:
        cluster.close()
        raise


_flag_cache: dict[tuple[str, str], bool] = {}


def _etcd_has_flag(exe: str, flag: str) -> bool:
    if (exe, flag) not in _flag_cache:
        out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=10)
        _flag_cache[(exe, flag)] = flag in (out.stdout + out.stderr)
    return _flag_cache[(exe, flag)]


def reference_kv_cluster(size: int = 3, host: str = "127.0.0.1", read_mode: str = "readindex",
                         extra: list[str] | None = None) -> LocalCluster:
    """Starts `size` reference-KV nodes and returns once one of them reports a leader."""
    cluster = LocalCluster("reference-kv", size)
    try:
        ports = launch.free_ports(2 * size, host)
        clients = {i + 1: f"{host}:{p}" for i, p in enumerate(ports[:size])}
        peers = {i + 1: f"{host}:{p}" for i, p in enumerate(ports[size:])}
        for i in clients:
            cluster._spawn(launch.node_argv(i, listen=clients[i], peer_listen=peers[i], peers=peers,
                                            data_dir=os.path.join(cluster.dir, f"n{i}"), read_mode=read_mode,
                                            extra=extra or ()), f"n{i}.log")
        cluster.endpoints.extend(clients.values())
        cluster.wait_until(lambda: any((admin.status(e, 1) or {}).get("role") == "leader" for e in clients.values()),
                           30, "waiting for a reference-KV leader")
        return cluster
    except BaseException:
        cluster.close()
        raise
