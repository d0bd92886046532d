"""The System protocol: the lifecycle half of a system under test (its client half is a
client spec for `workloads.clients`), and the small HTTP probe the built-in adapters use.

A system says how to run node i on any nemesis backend (`node_specs`), when a
node is ready, what a node thinks of the cluster (`status`: role, term, leader),
which client speaks to it, and which run options it takes. The runner knows
systems only through these attributes; nothing in it names a system.
"""
from __future__ import annotations

import http.client
import json
from typing import Mapping, Protocol, Sequence

from nemesis.types import NodeAddresses, NodeSpec


class System(Protocol):
    name: str
    # False when every node must dial the same address for a peer (etcd derives member ids
    # from peer URLs, Redis replicas announce one address): the local backend's per-link
    # proxies then cannot sit in between, so link faults need the netns/docker/ssh backends.
    per_link_dial: bool
    # Whether status() names a leader the monitor and leader-targeted faults can use.
    has_leader: bool
    # None when libfaketime reaches the nodes' clocks, else why not (a Go program reads time
    # through the vDSO, past libfaketime): clock faults are refused with it, never run as no-ops.
    clock_faults_unreachable: str | None
    # The read modes a run may choose (`read_mode`, among `options`), its default first;
    # () when it reads one way only.
    read_modes: tuple[str, ...]
    # Those of read_modes that promise no linearizable read by design (etcd's serializable, the
    # reference KV's UNSAFE local read): `explore` never draws them, a violation there is no finding.
    stale_read_modes: tuple[str, ...]
    # RunConfig fields this system takes (e.g. read_mode, snapshot_every, unsafe_bug);
    # a run that sets another system knob is refused.
    options: tuple[str, ...]
    # A fixed cluster size (a single Redis), or None when any size works.
    fixed_nodes: int | None

    def node_specs(self, n: int) -> Sequence[NodeSpec]: ...

    def client_spec(self, nodes: Mapping[str, NodeAddresses], managed: bool) -> str | dict:
        """What the load's client is (see workloads.clients); `managed` is False for --endpoints."""

    def ready(self, node: NodeAddresses, timeout: float) -> bool: ...

    # Admin actions the faults may use: a subset of remove_member, add_member, transfer_leader
    # (nemesis.faults.NEEDS), each done by admin(action, nodes, leader, target). An action whose
    # procedure restarts nodes names the backend capabilities it needs in `admin_requires`
    # (action -> capabilities); it is then offered only on such a backend and called with backend=.
    admin_actions: frozenset[str]

    def status(self, node: NodeAddresses, timeout: float) -> dict | None:
        """{"role", "term", "leader"} as this node sees it (term None when the system gives none:
        elections are then changes of the agreed leader); None if unreachable."""


class Defaults:
    """What most adapters share: a named client, a leader, ready when status answers, no admin actions."""

    client: str = ""
    has_leader = True
    admin_actions: frozenset[str] = frozenset()
    read_modes: tuple[str, ...] = ()
    stale_read_modes: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    fixed_nodes: int | None = None
    clock_faults_unreachable: str | None = None

    def client_spec(self, nodes, managed: bool) -> str | dict:
        return self.client

    def ready(self, node: NodeAddresses, timeout: float) -> bool:
        try:
            return self.status(node, timeout) is not None  # type: ignore[attr-defined]
        except (OSError, ValueError, http.client.HTTPException):
            return False


def go_program(path: str) -> bool:
    """An ELF executable built by Go (it carries the .go.buildinfo section): it reads the clock
    through the vDSO, so libfaketime's LD_PRELOAD never sees its clock calls."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
            if head != b"\x7fELF":
                return False
            f.seek(0)
            return b".go.buildinfo" in f.read(64 << 20)
    except OSError:
        return False


GO_CLOCK = "it is a Go program, which reads time through the vDSO where libfaketime cannot reach it"


def http_json(addr, method: str, path: str, body: dict | None = None, timeout: float = 1.0,
              headers: dict | None = None):
    """One request, one fresh connection: probes must not share state with the load."""
    conn = http.client.HTTPConnection(addr.host, addr.port, timeout=timeout)
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, (json.loads(raw) if raw else None)
    finally:
        conn.close()
