"""Three store processes on loopback for one benchmark round, removed afterwards."""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from reference_kv import admin, launch


def _get(address: str, path: str):
    with urllib.request.urlopen(f"http://{address}{path}", timeout=2) as r:
        return json.loads(r.read())


class BenchCluster:
    """The Region store (`regions`) or the single-group node; `flags`: further node flags (launch.node_argv)."""

    def __init__(self, regions: bool, n: int = 3, **flags):
        self.root = Path(tempfile.mkdtemp(prefix="bench-regions-"))
        self.regions_mode, self.flags, self.ids = regions, flags, list(range(1, n + 1))
        ports = iter(launch.free_ports(2 * n))
        self.client = {i: f"127.0.0.1:{next(ports)}" for i in self.ids}
        self.peer = {i: f"127.0.0.1:{next(ports)}" for i in self.ids}
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> "BenchCluster":
        try:
            for i in self.ids:
                log = open(self.root / f"n{i}.log", "wb")
                self.procs.append(subprocess.Popen(
                    launch.node_argv(i, listen=self.client[i], peer_listen=self.peer[i], peers=self.peer,
                                     peer_clients=self.client, data_dir=self.root / f"n{i}",
                                     regions=self.regions_mode, **self.flags),
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
            if any((admin.status(a) or {}).get("role") == "leader" for a in self.client.values()):
                return
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
