"""Three store processes on loopback for one benchmark round, removed afterwards."""
from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(address: str, path: str):
    with urllib.request.urlopen(f"http://{address}{path}", timeout=2) as r:
        return json.loads(r.read())


class BenchCluster:
    """module: "reference_kv.regions" or "reference_kv"; extra: further node flags."""

    def __init__(self, module: str, extra: list[str], n: int = 3):
        self.root = Path(tempfile.mkdtemp(prefix="bench-regions-"))
        self.module, self.extra, self.ids = module, extra, list(range(1, n + 1))
        self.client = {i: f"127.0.0.1:{_port()}" for i in self.ids}
        self.peer = {i: f"127.0.0.1:{_port()}" for i in self.ids}
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> "BenchCluster":
        peers = ",".join(f"{i}={a}" for i, a in self.peer.items())
        clients = ",".join(f"{i}={a}" for i, a in self.client.items())
        try:
            for i in self.ids:
                log = open(self.root / f"n{i}.log", "wb")
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-m", self.module, "--id", str(i), "--listen", self.client[i],
                     "--peer-listen", self.peer[i], "--peers", peers, "--peer-clients", clients,
                     "--data-dir", str(self.root / f"n{i}")] + self.extra,
                    stdout=log, stderr=log, stdin=subprocess.DEVNULL))
                log.close()
            self._wait_leader()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_leader(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for a in self.client.values():
                try:
                    if _get(a, "/status").get("role") == "leader":
                        return
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError(f"no leader within {timeout}s (logs in {self.root})")

    def addresses(self) -> list[str]:
        return list(self.client.values())

    def regions(self) -> int:
        for a in self.client.values():
            try:
                return len(_get(a, "/regions"))
            except urllib.error.HTTPError:
                return 1  # the single-group node (404): one group
            except OSError:
                continue
        return 0

    def __exit__(self, *exc) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        shutil.rmtree(self.root, ignore_errors=True)
