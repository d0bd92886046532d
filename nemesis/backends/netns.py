"""netns: each node in its own network namespace, veth'd to a bridge this backend creates.

Needs root. Names carry the run id (namespace `<run>-<node>`, bridge `<run>br`,
host-side veths `<run>v<i>`) so `nemesis.sweep` can find leftovers. Cuts and loss
are iptables rules inside the receiving node's namespace, bandwidth an htb class
on the sender's egress (`nemesis.iptables`). No netem in this kernel, so no delay.
The host gets the bridge's .254 address so the suite reaches every client port.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from typing import Sequence

from .. import iptables
from ..types import Addr, NodeAddresses, NodeSpec
from .host import BackendError, HostBackend

CLIENT_PORT = 8000
PEER_PORT = 9000


def _run(argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(argv, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise BackendError(f"{' '.join(argv)}: {r.stderr.strip() or r.returncode}")
    return r


def missing_requirements() -> str | None:
    """Why this backend cannot run here, or None."""
    if os.geteuid() != 0:
        return "the netns backend needs root"
    for tool in ("ip", "iptables", "tc"):
        if shutil.which(tool) is None:
            return f"the netns backend needs `{tool}` (Debian: iproute2, iptables)"
    return None


class NetnsBackend(HostBackend):
    name = "netns"
    max_nodes = 250  # one /24 per run, .254 the host's

    def __init__(self, workdir, run_id=None, **kw):
        why = missing_requirements()
        if why:
            raise BackendError(why)
        super().__init__(workdir, run_id, **kw)
        h = hashlib.sha256(self.run_id.encode()).digest()
        # A /24 of our own per run; it exists only on our bridge, never leaves this machine.
        self.subnet = f"10.{200 + h[0] % 50}.{h[1]}"
        self.bridge = f"{self.run_id}br"[:15]
        self.ns: dict[str, str] = {}
        self.ips: dict[str, str] = {}
        self.cuts: set[tuple[str, str]] = set()
        self.losses: dict[str, dict[str, float]] = {}
        self.rates: dict[str, dict[str, int]] = {}
        self.forward_rule: list[str] | None = None
        self.veths: list[str] = []

    def _ns(self, node: str, argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
        return _run(["ip", "netns", "exec", self.ns[node], *argv], check)

    def setup(self, specs: Sequence[NodeSpec]) -> dict[str, NodeAddresses]:
        if len({s.id for s in specs}) != len(specs) or len(specs) > self.max_nodes:
            raise ValueError(f"node ids must be unique (and at most {self.max_nodes} nodes)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        _run(["ip", "link", "add", self.bridge, "type", "bridge"])
        _run(["ip", "addr", "add", f"{self.subnet}.254/24", "dev", self.bridge])
        _run(["ip", "link", "set", self.bridge, "up"])
        # With br_netfilter loaded, bridged packets traverse the host's FORWARD chain, whose
        # policy a Docker engine sets to DROP; let our own bridge's traffic through.
        self.forward_rule = ["FORWARD", "-i", self.bridge, "-o", self.bridge, "-j", "ACCEPT",
                             "-m", "comment", "--comment", self.run_id]
        _run(["iptables", "-w", "-I", *self.forward_rule])
        for i, s in enumerate(specs):
            self.specs[s.id] = s
            self.ns[s.id] = f"{self.run_id}-{s.id}"
            self.ips[s.id] = f"{self.subnet}.{i + 1}"
            self._make_namespace(s.id, i)
        clients = {s.id: Addr(self.ips[s.id], s.client_port or CLIENT_PORT) for s in specs}
        peers = {s.id: Addr(self.ips[s.id], s.peer_port or PEER_PORT) for s in specs}
        for s in specs:
            data = self._prepare_node_dirs(s)
            self.addrs[s.id] = NodeAddresses(
                id=s.id, host=self.ips[s.id], client=clients[s.id], peer=peers[s.id], dial=dict(peers),
                cluster=dict(peers), clients=dict(clients), data_dir=str(data),
                log_path=str(self.node_dir(s.id) / "node.log"))
        return dict(self.addrs)

    def _make_namespace(self, node: str, i: int) -> None:
        ns, host_if = self.ns[node], f"{self.run_id}v{i}"[:15]
        _run(["ip", "netns", "add", ns])
        _run(["ip", "link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", ns])
        self.veths.append(host_if)
        _run(["ip", "link", "set", host_if, "master", self.bridge])
        _run(["ip", "link", "set", host_if, "up"])
        self._ns(node, ["ip", "addr", "add", f"{self.ips[node]}/24", "dev", "eth0"])
        self._ns(node, ["ip", "link", "set", "eth0", "up"])
        self._ns(node, ["ip", "link", "set", "lo", "up"])
        for cmd in iptables.init_chains():
            self._ns(node, cmd)

    def _wrap(self, node: str, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns[node], *argv]

    # -- links ------------------------------------------------------------------------------

    def _check(self, src: str, dst: str) -> None:
        if src == dst or src not in self.ns or dst not in self.ns:
            raise ValueError(f"no link {src}->{dst}")

    def cut(self, src: str, dst: str) -> None:
        self._check(src, dst)
        if (src, dst) not in self.cuts:
            self._ns(dst, iptables.cut(self.ips[src]))
            self.cuts.add((src, dst))
        # Established flows are cut too: the rule drops every packet, not just new connections.

    def restore(self, src: str, dst: str) -> None:
        self._check(src, dst)
        if (src, dst) in self.cuts:
            self._ns(dst, iptables.uncut(self.ips[src]))
            self.cuts.discard((src, dst))

    def restore_all(self) -> None:
        for node in self.ns:
            self._ns(node, iptables.flush(iptables.CUT))
        self.cuts.clear()

    def set_loss(self, src: str, dst: str, probability: float) -> None:
        self._check(src, dst)
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"loss probability must be in [0, 1], got {probability}")
        self.losses.setdefault(dst, {})[self.ips[src]] = probability
        for cmd in iptables.loss_rules(self.losses[dst]):
            self._ns(dst, cmd)

    def set_rate(self, src: str, dst: str, kbit: int | None) -> None:
        self._check(src, dst)
        rates = self.rates.setdefault(src, {})
        if kbit:
            rates[self.ips[dst]] = int(kbit)
        else:
            rates.pop(self.ips[dst], None)
        cmds = iptables.rate_rules("eth0", rates)
        self._ns(src, cmds[0], check=False)
        for cmd in cmds[1:]:
            self._ns(src, cmd)

    def reset_links(self) -> None:
        self.restore_all()
        for node in self.ns:
            self._ns(node, iptables.flush(iptables.LOSS))
            self._ns(node, ["tc", "qdisc", "del", "dev", "eth0", "root"], check=False)
        self.losses.clear()
        self.rates.clear()

    def teardown(self) -> None:
        try:
            super().teardown()
        finally:
            # deleting a veth takes its peer at once; a namespace's own cleanup runs later in
            # the kernel, so its host-side veths would linger for a moment after `netns del`
            for veth in self.veths:
                _run(["ip", "link", "del", veth], check=False)
            self.veths.clear()
            for ns in self.ns.values():
                _run(["ip", "netns", "del", ns], check=False)
            _run(["ip", "link", "del", self.bridge], check=False)
            if self.forward_rule:
                _run(["iptables", "-w", "-D", *self.forward_rule], check=False)
            self.ns.clear()
