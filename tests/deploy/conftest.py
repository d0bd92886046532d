"""A real DNS server on loopback and reference-KV clusters found through it, as in a StatefulSet."""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from reference_kv import admin, admintoken

DOMAIN = "kv.ns.svc.cluster.local"
STS = "kv"


class Records:
    """What the test DNS server answers: name -> IPv4, changed while it runs (pods appear late)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._a: dict[str, str] = {}
        self.queries = 0

    def set(self, name: str, ip: str) -> None:
        with self._lock:
            self._a[name.rstrip(".").lower()] = ip

    def get(self, name: str) -> str | None:
        with self._lock:
            self.queries += 1
            return self._a.get(name.rstrip(".").lower())

    def resolve(self, request, handler):
        from dnslib import QTYPE, RCODE, RR, A
        reply = request.reply()
        q = request.q
        ip = self.get(str(q.qname))
        if ip is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif q.qtype in (QTYPE.A, QTYPE.ANY):
            reply.add_answer(RR(q.qname, QTYPE.A, rdata=A(ip), ttl=1))
        return reply


class _Quiet:
    def __getattr__(self, name):
        return lambda *a, **k: None


@pytest.fixture
def dns():
    """-> (records, "127.0.0.1:PORT") of a UDP DNS server on loopback."""
    from dnslib.server import DNSServer
    records = Records()
    server = DNSServer(records, address="127.0.0.1", port=0, logger=_Quiet())
    server.start_thread()
    try:
        yield records, f"127.0.0.1:{server.server.server_address[1]}"
    finally:
        server.stop()
        server.server.server_close()


def http(address: str, method: str, path: str, body=None, timeout: float = 2.0):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://{address}{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def _port_free_on(ips: list[str]) -> int:
    """One TCP port bindable on every ip: each pod of a StatefulSet listens on the same ports."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind((ips[0], 0))
            port = s.getsockname()[1]
        try:
            for ip in ips[1:]:
                with socket.socket() as s:
                    s.bind((ip, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no common free port")


class DnsCluster:
    """Three 'pods' kv-0..kv-2 on their own 127.x.y.z addresses, each started by the discovery launcher."""

    def __init__(self, root: Path, dns_server: str, replicas: int = 3):
        self.root = root
        self.dns_server = dns_server
        net = random.Random(os.getpid() ^ time.monotonic_ns())
        # a /24 of loopback of our own, away from the 127.0.0.x other tests use
        base = f"127.{net.randint(60, 250)}.{net.randint(1, 250)}"
        self.ips = {i: f"{base}.{i + 10}" for i in range(replicas)}
        self.client_port = _port_free_on(list(self.ips.values()))
        self.peer_port = _port_free_on(list(self.ips.values()))
        # each pod's admin API: on its own address here, as on its own loopback in a pod
        self.admin_port = _port_free_on(list(self.ips.values()))
        self.token_file = root / "admin-token"
        admintoken.write_file(self.token_file)
        self.replicas = replicas
        self.procs: dict[int, subprocess.Popen] = {}
        self.peer_security = ["--peer-plaintext"]  # the test's own namespaces; a test may swap in --peer-tls DIR

    def name(self, ordinal: int) -> str:
        return f"{STS}-{ordinal}.{DOMAIN}"

    def address(self, ordinal: int) -> str:
        return f"{self.ips[ordinal]}:{self.client_port}"

    def node_flags(self, ordinal: int) -> list[str]:
        ip = self.ips[ordinal]
        return ["--listen", f"{ip}:{self.client_port}", "--peer-listen", f"{ip}:{self.peer_port}",
                "--data-dir", str(self.root / f"kv-{ordinal}"), "--storage", "memory", *self.peer_security,
                "--admin-listen", f"{ip}:{self.admin_port}", "--admin-token-file", str(self.token_file)]

    def admin_flags(self, ordinal: int) -> list[str]:
        """How the preStop hook reaches pod `ordinal`'s admin API."""
        return ["--admin-address", f"{self.ips[ordinal]}:{self.admin_port}", "--admin-token-file", str(self.token_file)]

    def discovery_flags(self, ordinal: int, dns_timeout: float = 20) -> list[str]:
        return ["--peers-dns", DOMAIN, "--replicas", str(self.replicas), "--hostname", f"{STS}-{ordinal}",
                "--dns-server", self.dns_server, "--peer-hosts", "ip", "--dns-timeout", str(dns_timeout)]

    def launch(self, ordinal: int) -> subprocess.Popen:
        log = open(self.root / f"kv-{ordinal}.log", "ab")
        argv = [sys.executable, "-m", "reference_kv.discovery", *self.discovery_flags(ordinal),
                *self.node_flags(ordinal)]
        p = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        self.procs[ordinal] = p
        return p

    def status(self, ordinal: int) -> dict | None:
        return admin.status(self.address(ordinal), timeout=0.5)

    def wait_leader(self, timeout: float = 15.0, exclude: tuple[int, ...] = ()) -> int:
        """-> the leader's id once every running node agrees on it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sts = [self.status(o) for o in self.procs]
            leaders = {s.get("leader") for s in sts if s}
            if all(sts) and len(leaders) == 1 and None not in leaders and not leaders & set(exclude):
                lid = leaders.pop()
                if any(s["role"] == "leader" and s["id"] == lid for s in sts):
                    return lid
            time.sleep(0.05)
        raise AssertionError(f"no agreed leader within {timeout} s\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
                         for p in sorted(self.root.glob("kv-*.log")))

    def stop(self) -> None:
        for o, p in list(self.procs.items()):
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)  # a test may have paused it
                p.terminate()
        for o, p in list(self.procs.items()):
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        self.procs.clear()


@pytest.fixture
def dns_cluster(tmp_path, dns):
    """-> (cluster, records): nothing started; the test publishes names and launches pods."""
    records, server = dns
    c = DnsCluster(tmp_path, server)
    try:
        yield c, records
    finally:
        c.stop()


@pytest.fixture
def running_cluster(dns_cluster):
    """A 3-node cluster found through DNS, with an agreed leader."""
    c, records = dns_cluster
    for o in range(c.replicas):
        records.set(c.name(o), c.ips[o])
        c.launch(o)
    c.wait_leader()
    return c
