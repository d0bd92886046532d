"""The System protocol and the small HTTP probe both built-in adapters use."""
from __future__ import annotations

import http.client
import json
from typing import Protocol, Sequence

from nemesis.types import Addr, NodeSpec


class System(Protocol):
    name: str
    # The workloads client that speaks to this system (see workloads.clients).
    client: str
    # False when every node must dial the same address for a peer (etcd derives
    # member ids from peer URLs): the local backend's per-link proxies then
    # cannot sit in between, so link faults need the netns/docker/ssh backends.
    per_link_dial: bool

    def node_specs(self, n: int) -> Sequence[NodeSpec]: ...

    def status(self, client: Addr, timeout: float) -> dict | None:
        """{"role", "term", "leader"} as this node sees it; None if unreachable."""


def http_json(addr: Addr, method: str, path: str, body: dict | None = None, timeout: float = 1.0):
    """One request, one fresh connection: probes must not share state with the load."""
    conn = http.client.HTTPConnection(addr.host, addr.port, timeout=timeout)
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, (json.loads(raw) if raw else None)
    finally:
        conn.close()
