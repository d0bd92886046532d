"""local: nodes are processes on distinct 127.x.y.z addresses; every peer link is a proxy.

No root needed. Node i dials node j through the proxy for link i->j (see
`nemesis.proxy`), so cuts, one-way cuts, loss and delay act per directed link.
Limitation: a system that insists every member names every other member by one
global address (etcd's --initial-cluster) cannot be given per-link dial
addresses; run such systems on the netns, docker or ssh backends.
"""
from __future__ import annotations

import hashlib
import os
import socket
import subprocess
from typing import Sequence

from ..proxy import ProxyClient, wait_ready
from ..types import Addr, NodeAddresses, NodeSpec
from .host import RUN_ENV, HostBackend


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class LocalBackend(HostBackend):
    name = "local"
    # n nodes need n(n-1) link proxies in one process, each on a port picked before the nodes bind theirs:
    # past this, port collisions and the machine's processes make runs fail, not fault-test
    max_nodes = 15

    def __init__(self, workdir, run_id=None, *, cut_mode: str = "stall", **kw):
        super().__init__(workdir, run_id, **kw)
        if cut_mode not in ("stall", "reset"):
            raise ValueError(f"cut_mode must be 'stall' or 'reset', not {cut_mode!r}")
        self.cut_mode = cut_mode
        self.proxy_proc: subprocess.Popen | None = None
        self.proxy: ProxyClient | None = None
        # A per-run /24 inside 127/8 keeps concurrent runs from colliding on addresses.
        h = hashlib.sha256(self.run_id.encode()).digest()
        self.net = f"127.{1 + h[0] % 250}.{h[1]}"

    def setup(self, specs: Sequence[NodeSpec]) -> dict[str, NodeAddresses]:
        if len({s.id for s in specs}) != len(specs):
            raise ValueError("node ids must be unique")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._start_proxy()
        hosts = {s.id: f"{self.net}.{i + 1}" for i, s in enumerate(specs)}
        clients = {s.id: Addr(hosts[s.id], s.client_port or _free_port(hosts[s.id])) for s in specs}
        peers = {s.id: Addr(hosts[s.id], s.peer_port or _free_port(hosts[s.id])) for s in specs}
        for s in specs:
            self.specs[s.id] = s
        for s in specs:
            data = self._prepare_node_dirs(s)
            dial = {}
            for t in specs:
                if t.id == s.id:
                    dial[t.id] = peers[t.id]
                    continue
                r = self.proxy.call(op="add", link=f"{s.id}->{t.id}", listen=hosts[t.id],
                                    target=[peers[t.id].host, peers[t.id].port])
                self.proxy.call(op="set", link=f"{s.id}->{t.id}", mode=self.cut_mode)
                dial[t.id] = Addr(hosts[t.id], r["port"])
            self.addrs[s.id] = NodeAddresses(
                id=s.id, host=hosts[s.id], client=clients[s.id], peer=peers[s.id], dial=dial,
                cluster=dict(peers), clients=dict(clients), data_dir=str(data),
                log_path=str(self.node_dir(s.id) / "node.log"))
        return dict(self.addrs)

    def _start_proxy(self) -> None:
        path = self.sockets.socket("proxy.sock")
        env = dict(os.environ, **{RUN_ENV: self.run_id})
        log = open(self.workdir / "proxy.log", "ab")
        try:
            self.proxy_proc = subprocess.Popen(
                [self.python, "-m", "nemesis.proxy", "--control", path], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=log, env=env, start_new_session=True,
                cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
        finally:
            log.close()
        try:
            wait_ready(self.proxy_proc)
        except RuntimeError as e:
            tail = (self.workdir / "proxy.log").read_text(errors="replace").strip().splitlines()[-1:]
            raise RuntimeError(f"{e}; {tail[0] if tail else 'no output'} (log: {self.workdir / 'proxy.log'})")
        self.proxy = ProxyClient(path)

    # -- links ------------------------------------------------------------------------------

    def _link(self, src: str, dst: str) -> str:
        if src == dst or src not in self.specs or dst not in self.specs:
            raise ValueError(f"no link {src}->{dst}")
        return f"{src}->{dst}"

    def cut(self, src: str, dst: str) -> None:
        self.proxy.call(op="set", link=self._link(src, dst), cut=True)

    def restore(self, src: str, dst: str) -> None:
        self.proxy.call(op="set", link=self._link(src, dst), cut=False)

    def restore_all(self) -> None:
        for s in self.specs:
            for d in self.specs:
                if s != d:
                    self.restore(s, d)

    def set_loss(self, src: str, dst: str, probability: float) -> None:
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"loss probability must be in [0, 1], got {probability}")
        self.proxy.call(op="set", link=self._link(src, dst), loss=probability)

    def set_delay(self, src: str, dst: str, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"delay must be >= 0, got {seconds}")
        self.proxy.call(op="set", link=self._link(src, dst), delay=seconds)

    def reset_links(self) -> None:
        self.proxy.call(op="reset")

    def link_stats(self) -> dict:
        return self.proxy.call(op="stats")["links"]

    def teardown(self) -> None:
        try:
            super().teardown()
        finally:
            if self.proxy is not None:
                self.proxy.close()
            if self.proxy_proc is not None:
                self.proxy_proc.stdin.close()  # EOF tells the proxy process to exit
                try:
                    self.proxy_proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proxy_proc.kill()
                    self.proxy_proc.wait(5)
                self.proxy_proc.stdout.close()
                self.proxy_proc = None
            self.sockets.remove()
