"""Locust workloads that drive a system and record every operation as a history.

The workloads by name. A new workload is its module (a `workloads.users.StoreUser`
subclass with tasks) and one line here; every place that names workloads (the
load settings, `splitbrain run`, the CLI help) asks this table. The classes load
only in the Locust process, which gevent-patches whoever imports it.
"""
from __future__ import annotations

WORKLOADS = {
    "register": "workloads.register:Register",
    "kv": "workloads.kv:KV",
    "reads": "workloads.reads:Reads",
    "append": "workloads.append:Append",
    "failover": "workloads.failover:Failover",
    "churn": "workloads.churn:Churn",
}


def names() -> tuple[str, ...]:
    return tuple(WORKLOADS)


def user_class(name: str):
    """The Locust user class of workload `name` (imports Locust)."""
    import importlib

    if name not in WORKLOADS:
        raise ValueError(f"workload {name!r} is not one of {', '.join(WORKLOADS)}")
    module, _, cls = WORKLOADS[name].partition(":")
    return getattr(importlib.import_module(module), cls)
