"""System clients behind one protocol (`workloads.clients.base.Client`)."""
from __future__ import annotations

from workloads.clients.base import READ_MODES, Client

SYSTEMS = ("reference-kv", "etcd")


def make_client(system: str, endpoints: list[str], timeout: float = 1.0, read_mode: str | None = None,
                start: int = 0) -> Client:
    """A client of `system`; `start` picks which endpoint it contacts first."""
    if system == "etcd":
        from workloads.clients.etcd import EtcdClient
        return EtcdClient(endpoints, timeout=timeout, read_mode=read_mode, start=start)
    if system == "reference-kv":
        from workloads.clients.reference_kv import ReferenceKVClient
        return ReferenceKVClient(endpoints, timeout=timeout, read_mode=read_mode, start=start)
    raise ValueError(f"unknown system {system!r} (one of {', '.join(SYSTEMS)})")


__all__ = ["Client", "READ_MODES", "SYSTEMS", "make_client"]
