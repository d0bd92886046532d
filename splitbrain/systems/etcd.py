"""etcd (Debian's etcd-server) as a system under test, probed through its v3 JSON gateway."""
from __future__ import annotations

import dataclasses
import shutil

from nemesis.types import NodeAddresses, NodeSpec
from splitbrain.errors import UsageError
from splitbrain.systems.base import GO_CLOCK, Defaults, http_json
from workloads.clients.etcd import EtcdClient


@dataclasses.dataclass
class Etcd(Defaults):
    read_mode: str = EtcdClient.READ_MODES[0]  # per request: the members start the same either way
    binary: str = "etcd"
    token: str = "splitbrain"

    name = "etcd"
    client = "etcd"
    read_modes = EtcdClient.READ_MODES  # linearizable, serializable: as the client phrases them
    stale_read_modes = EtcdClient.STALE_READ_MODES
    options = ("read_mode",)
    per_link_dial = False
    clock_faults_unreachable = f"etcd's clock: {GO_CLOCK}"
    # backend -> why not: the node image carries the reference KV only
    unsupported_backends = {"docker": "the node image has no etcd; use --backend netns or ssh"}

    def _argv(self, a: NodeAddresses) -> list[str]:
        exe = shutil.which(self.binary) or self.binary
        cluster = ",".join(f"n{k}=http://{v}" for k, v in a.cluster.items())
        return [exe, "--name", f"n{a.id}", "--data-dir", a.data_dir,
                "--listen-client-urls", f"http://{a.client}", "--advertise-client-urls", f"http://{a.client}",
                "--listen-peer-urls", f"http://{a.peer}", "--initial-advertise-peer-urls", f"http://{a.peer}",
                "--initial-cluster", cluster, "--initial-cluster-state", "new",
                "--initial-cluster-token", self.token,
                # Elections on the scale the reference KV uses, so both are compared fairly.
                "--heartbeat-interval", "10", "--election-timeout", "100",
                "--logger", "zap", "--log-outputs", "stderr"]

    def node_specs(self, n: int) -> list[NodeSpec]:
        if shutil.which(self.binary) is None:
            raise UsageError(f"etcd binary {self.binary!r} not found (Debian: apt-get install etcd-server)")
        return [NodeSpec(id=str(i), argv=self._argv) for i in range(1, n + 1)]

    def status(self, node: NodeAddresses, timeout: float) -> dict | None:
        code, body = http_json(node.client, "POST", "/v3/maintenance/status", {}, timeout=timeout)
        if code != 200 or not isinstance(body, dict):
            return None
        me = body.get("header", {}).get("member_id")
        leader = body.get("leader")
        return {"role": "leader" if leader and leader == me else "follower",
                "term": int(body.get("raftTerm") or body.get("raft_term") or 0),
                "leader": leader, "member_id": me}
