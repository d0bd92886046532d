"""Real reference-KV node processes on loopback for the integration tests."""
from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from reference_kv import admin, admintoken
from reference_kv.launch import free_port, node_argv


def http(address: str, method: str, path: str, body=None, timeout: float = 3.0, raw: bytes | None = None,
         headers: dict | None = None):
    """-> (status, parsed JSON or text)."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(f"http://{address}{path}", data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, payload = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, payload = e.code, e.read()
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, payload.decode()


def http_or_none(address, method: str, path: str, body=None, timeout: float = 3.0):
    """As http(), but (None, None) when the node cannot be reached or does not answer in time."""
    try:
        return http(str(address), method, path, body, timeout)
    except OSError:
        return None, None


class Cluster:
    regions = False  # True: the Region store (`python -m reference_kv.regions`)

    def __init__(self, root: Path, n: int, *extra: str):
        self.root = root
        self.extra = list(extra)
        self.ids = list(range(1, n + 1))
        self.client = {i: f"127.0.0.1:{free_port()}" for i in self.ids}
        self.peer = {i: f"127.0.0.1:{free_port()}" for i in self.ids}
        self.admin_address = {i: f"127.0.0.1:{free_port()}" for i in self.ids}
        self.token_file = root / "admin.token"
        self.token = admintoken.new_token()
        self.procs: dict[int, subprocess.Popen] = {}
        self.voters = list(self.ids)
        self.peer_tls: dict[int, Path] = {}  # node -> its --peer-tls directory; plaintext when absent

    def argv(self, nid: int, join: bool = False) -> list[str]:
        return node_argv(nid, listen=self.client[nid], peer_listen=self.peer[nid],
                         peers={i: self.peer[i] for i in self.voters}, peer_clients=self.client,
                         data_dir=self.root / f"n{nid}", regions=self.regions, extra=self.extra,
                         join=join, peer_tls=self.peer_tls.get(nid), admin_listen=self.admin_address[nid],
                         admin_token_file=self.token_file)

    def start(self, nid: int, join: bool = False) -> None:
        if not self.token_file.exists():
            admintoken.write_file(self.token_file, self.token)
        log = open(self.root / f"n{nid}.log", "ab")
        self.procs[nid] = subprocess.Popen(self.argv(nid, join), stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()

    def start_all(self) -> None:
        for i in self.ids:
            self.start(i)
        self.wait_leader()

    def add_node(self) -> int:
        nid = max(self.client) + 1
        self.client[nid] = f"127.0.0.1:{free_port()}"
        self.peer[nid] = f"127.0.0.1:{free_port()}"
        self.admin_address[nid] = f"127.0.0.1:{free_port()}"
        self.start(nid, join=True)
        return nid

    def kill(self, nid: int, sig=signal.SIGKILL) -> None:
        p = self.procs.pop(nid)
        p.send_signal(sig)
        p.wait(10)

    def addresses(self, ids=None) -> list[str]:
        return [self.client[i] for i in (ids or self.procs)]

    def status(self, nid: int) -> dict | None:
        return admin.status(self.client[nid], timeout=0.5)

    def wait_leader(self, timeout: float = 10.0, exclude=()) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for nid in list(self.procs):
                st = self.status(nid)
                if st and st["role"] == "leader" and nid not in exclude:
                    return nid
            time.sleep(0.02)
        raise AssertionError(f"no leader within {timeout}s; logs in {self.root}")

    def admin_at(self, nid: int, method: str, path: str, body=None, timeout: float = 8.0):
        """An admin request to node nid's admin API, with the cluster's token."""
        return http(self.admin_address[nid], method, path, body, timeout=timeout,
                    headers=admintoken.headers(self.token))

    def admin(self, method: str, path: str, body=None, timeout: float = 15.0):
        """An admin request to whoever leads now: a leader change under load answers
        503 not_leader, which is an instruction to ask again, not a result."""
        deadline = time.monotonic() + timeout
        while True:
            code, reply = self.admin_at(self.wait_leader(), method, path, body)
            if code != 503 or time.monotonic() > deadline:
                return code, reply
            time.sleep(0.1)

    def wait(self, pred, timeout: float = 10.0, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = pred()
            if v:
                return v
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; logs in {self.root}")

    def stop_all(self) -> None:
        for nid in list(self.procs):
            p = self.procs.pop(nid)
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.root.glob("n*.log")))
