"""Systems under test, as Jepsen separates DB from client: each adapter says how
to run a node (its `NodeSpec` for any nemesis backend), how to ask a node for
its view of the cluster, and which workload client speaks to it. The runner
knows systems only through `get(name)`.
"""
from __future__ import annotations

from splitbrain.errors import UsageError
from splitbrain.systems.base import System

_BUILTIN = {
    "reference-kv": "splitbrain.systems.reference_kv:ReferenceKV",
    "etcd": "splitbrain.systems.etcd:Etcd",
}


def names() -> list[str]:
    return sorted(_BUILTIN)


def get(name: str, **options) -> System:
    target = _BUILTIN.get(name)
    if target is None:
        raise UsageError(f"unknown system {name!r} (choose from {', '.join(names())})")
    import importlib

    mod, _, cls = target.partition(":")
    return getattr(importlib.import_module(mod), cls)(**options)
