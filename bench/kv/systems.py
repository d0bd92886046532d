"""Three-node clusters of each system on loopback, behind one small interface.

Each cluster knows how to start, SIGKILL and restart a node, how to read a
node's view of the leader, and how to phrase a write or a read of each of its
read modes as an HTTP request (so the load generator is the same code for all).
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.kv.httpc import Conn, HTTPConnectionError
from reference_kv import launch

PY = sys.executable


class Cluster:
    name = "?"
    read_modes: tuple[str, ...] = ()
    any_node_modes: tuple[str, ...] = ()  # read modes that any node answers

    def __init__(self, root: Path, n: int = 3):
        self.root = Path(root)
        self.ids = list(range(1, n + 1))
        ports = iter(launch.free_ports(2 * n))
        self.client = {i: f"127.0.0.1:{next(ports)}" for i in self.ids}
        self.peer = {i: f"127.0.0.1:{next(ports)}" for i in self.ids}
        self.procs: dict[int, subprocess.Popen] = {}
        self._status_conns: dict[int, Conn] = {}

    # --- processes ------------------------------------------------------------
    def argv(self, nid: int) -> list[str]:
        raise NotImplementedError

    def start(self, nid: int) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f"n{nid}.log", "ab") as log:
            self.procs[nid] = subprocess.Popen(self.argv(nid), stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                               env=self.env())

    def env(self) -> dict:
        return dict(os.environ)

    def start_all(self, timeout: float = 30.0) -> int:
        for i in self.ids:
            self.start(i)
        return self.wait_stable(timeout)

    def kill(self, nid: int) -> None:
        p = self.procs.pop(nid)
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        self._drop_status_conn(nid)

    def stop_all(self) -> None:
        stopping = []
        for nid in list(self.procs):
            p = self.procs.pop(nid)
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                stopping.append(p)
        deadline = time.monotonic() + 5
        for p in stopping:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        for c in self._status_conns.values():
            c.close()
        self._status_conns.clear()

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    # --- leader view ------------------------------------------------------------
    def status(self, nid: int, timeout: float = 0.2) -> dict | None:
        """-> {"role", "leader" (node id or None), "term"} as node nid sees it, or None if unreachable."""
        c = self._status_conns.get(nid)
        if c is None:
            c = self._status_conns[nid] = Conn(self.client[nid], timeout=timeout, connect_timeout=timeout)
        try:
            code, body = c.request(*self.status_request())
        except (HTTPConnectionError, OSError):
            self._drop_status_conn(nid)
            return None
        if code != 200:
            return None
        return self.parse_status(nid, json.loads(body))

    def _drop_status_conn(self, nid: int) -> None:
        c = self._status_conns.pop(nid, None)
        if c is not None:
            c.close()

    def status_request(self) -> tuple[str, str, bytes]:
        return "GET", "/status", b""

    def parse_status(self, nid: int, st: dict) -> dict:
        return {"role": st.get("role"), "leader": st.get("leader"), "term": st.get("term")}

    def wait_stable(self, timeout: float = 30.0, settle: float = 0.0) -> int:
        """Every running node agrees on one leader -> its id."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            views = [self.status(i, timeout=0.5) for i in self.procs]
            leaders = {v["leader"] for v in views if v}
            if all(views) and len(leaders) == 1 and None not in leaders and leaders & set(self.procs):
                if settle:
                    time.sleep(settle)
                    settle = 0.0
                    continue
                return leaders.pop()
            time.sleep(0.05)
        raise RuntimeError(f"{self.name}: no stable leader within {timeout}s (logs in {self.root})")

    # --- requests ------------------------------------------------------------------
    def write_request(self, key: str, value: str, rid: str) -> tuple[str, str, bytes]:
        raise NotImplementedError

    def read_request(self, key: str, mode: str) -> tuple[str, str, bytes]:
        raise NotImplementedError


class RefKV(Cluster):
    name = "refkv"
    read_modes = ("readindex", "log", "follower")
    any_node_modes = ("follower",)

    def __init__(self, root: Path, n: int = 3, read_mode: str = "readindex", extra: tuple[str, ...] = ()):
        super().__init__(root, n)
        self.default_mode = read_mode
        self.extra = list(extra)
        if read_mode == "lease":
            self.name = "refkv-lease"
            self.read_modes = ("lease",)

    def argv(self, nid):
        return launch.node_argv(nid, listen=self.client[nid], peer_listen=self.peer[nid], peers=self.peer,
                                peer_clients=self.client, data_dir=self.root / f"n{nid}.data",
                                read_mode=self.default_mode, log_level="WARNING", extra=self.extra)

    def write_request(self, key, value, rid):
        return "PUT", f"/kv/{key}", json.dumps({"value": value, "request_id": rid}).encode()

    def read_request(self, key, mode):
        return "GET", f"/kv/{key}?read={mode}", b""


class SyncObjKV(Cluster):
    name = "pysyncobj"
    read_modes = ("leader", "follower")
    any_node_modes = ("follower",)

    def __init__(self, root: Path, n: int = 3, timing: str = "fast"):
        super().__init__(root, n)
        self.timing = timing

    def argv(self, nid):
        return [PY, "-m", "bench.kv.syncobj_server", "--id", str(nid), "--listen", self.client[nid],
                "--peers", ",".join(f"{i}={a}" for i, a in self.peer.items()),
                "--data-dir", str(self.root / f"n{nid}.data"), "--timing", self.timing]

    def write_request(self, key, value, rid):
        return "PUT", f"/kv/{key}", json.dumps({"value": value}).encode()

    def read_request(self, key, mode):
        # The front end checks the mode's name; the node reads locally either way.
        return "GET", f"/kv/{key}?read={'follower' if mode == 'follower' else 'readindex'}", b""


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


class Etcd(Cluster):
    """etcd 3.4 (Debian's binary) through its v3 JSON gateway."""

    name = "etcd"
    read_modes = ("linearizable", "serializable")
    any_node_modes = ("serializable",)
    binary = "etcd"

    def __init__(self, root: Path, n: int = 3, heartbeat_ms: int = 10, election_ms: int = 100):
        super().__init__(root, n)
        self.heartbeat_ms, self.election_ms = heartbeat_ms, election_ms
        self.name = f"etcd-{heartbeat_ms}/{election_ms}"
        self._members: dict[str, int] = {}  # member id (decimal string) -> node id

    def argv(self, nid):
        initial = ",".join(f"n{i}=http://{a}" for i, a in self.peer.items())
        return [self.binary, "--name", f"n{nid}", "--data-dir", str(self.root / f"n{nid}.data"),
                "--listen-client-urls", f"http://{self.client[nid]}",
                "--advertise-client-urls", f"http://{self.client[nid]}",
                "--listen-peer-urls", f"http://{self.peer[nid]}",
                "--initial-advertise-peer-urls", f"http://{self.peer[nid]}",
                "--initial-cluster", initial, "--initial-cluster-state", "new",
                "--initial-cluster-token", "splitbrain-bench",
                "--heartbeat-interval", str(self.heartbeat_ms), "--election-timeout", str(self.election_ms),
                "--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn"]

    def status_request(self):
        return "POST", "/v3/maintenance/status", b"{}"

    def parse_status(self, nid, st):
        me = str(st.get("header", {}).get("member_id", ""))
        if me:
            self._members[me] = nid
        lead = str(st.get("leader", "0"))
        leader = self._members.get(lead) if lead != "0" else None
        if leader is None and lead != "0" and lead not in self._members:
            leader = -1  # a member we have not asked yet: known to exist, id unknown
        return {"role": "leader" if lead == me else "follower", "leader": leader,
                "term": int(st.get("raftTerm", 0))}

    def wait_stable(self, timeout: float = 30.0, settle: float = 0.0) -> int:
        for i in list(self.procs):  # learn every member id first
            deadline = time.monotonic() + timeout
            while self.status(i, timeout=0.5) is None and time.monotonic() < deadline:
                time.sleep(0.05)
        return super().wait_stable(timeout, settle)

    def write_request(self, key, value, rid):
        return "POST", "/v3/kv/put", json.dumps({"key": _b64(key), "value": _b64(json.dumps(value))}).encode()

    def read_request(self, key, mode):
        body = {"key": _b64(key)}
        if mode == "serializable":
            body["serializable"] = True
        return "POST", "/v3/kv/range", json.dumps(body).encode()
