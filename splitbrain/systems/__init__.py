"""Systems under test, as Jepsen separates DB from client: each adapter says how
to run a node (its `NodeSpec` for any nemesis backend), when a node is ready,
how to ask a node for its view of the cluster, and which workload client speaks
to it (see `base.System`). The runner knows systems only through `create(...)`:
a built-in name, or the path of a system file (`described`).
"""
from __future__ import annotations

import os

from splitbrain.errors import UsageError
from splitbrain.systems.base import System

_BUILTIN = {
    "reference-kv": "splitbrain.systems.reference_kv:ReferenceKV",
    "etcd": "splitbrain.systems.etcd:Etcd",
}


def names() -> list[str]:
    return sorted(_BUILTIN)


def is_file(name: str) -> bool:
    return name.endswith(".toml") or os.sep in name or os.path.isfile(name)


def _flag(option: str) -> str:
    return "--" + option.replace("_", "-")


def _factory(name: str):
    import importlib

    mod, _, cls = _BUILTIN[name].partition(":")
    return getattr(importlib.import_module(mod), cls)


def create(name: str, options: dict | None = None) -> System:
    """The adapter for `name` with the run options it declares; refuses options it does not take.

    `options` holds the system knobs a run set (RunConfig.system_options()).
    """
    options = dict(options or {})
    if name in _BUILTIN:
        factory = _factory(name)
        declared, modes, shown = factory.options, factory.read_modes, name
    elif is_file(name):
        from splitbrain.systems.described import SystemFileError, load

        try:
            system = load(name)
        except SystemFileError as e:
            raise UsageError(str(e)) from None
        factory, declared, modes = (lambda **_: system), system.options, system.read_modes
        shown = f"{system.name} ({name})"
    else:
        raise UsageError(f"unknown system {name!r} (choose from {', '.join(names())}, or give a system.toml)")
    refused = sorted(set(options) - set(declared))
    if refused:
        takes = ", ".join(_flag(o) for o in declared) or "none"
        raise UsageError(f"{_flag(refused[0])} does not apply to system {shown} (it takes {takes})")
    mode = options.get("read_mode")
    if mode is not None and mode not in modes:
        raise UsageError(f"system {shown} has no read mode {mode!r} (choose from {', '.join(modes)})")
    return factory(**options)


def read_modes_help() -> str:
    """`reference-kv: readindex | ...; etcd: ...`, each built-in system's read modes, its default first."""
    return "; ".join(f"{n}: {' | '.join(_factory(n).read_modes)}" for n in names() if _factory(n).read_modes)


def get(name: str, **options) -> System:
    return create(name, options)


__all__ = ["System", "create", "get", "is_file", "names", "read_modes_help"]
