"""Backends by name. Each module is imported only when asked for (docker and paramiko are heavy).

`create(name, workdir, **options)` checks the option names against the backend's
constructor, so a misspelt option is one clear ValueError, not a TypeError deep in a run.
"""
from __future__ import annotations

import importlib
import inspect

NAMES = {
    "local": ("nemesis.backends.local", "LocalBackend"),
    "netns": ("nemesis.backends.netns", "NetnsBackend"),
    "docker": ("nemesis.backends.docker", "DockerBackend"),
    "ssh": ("nemesis.backends.ssh", "SshBackend"),
}


def backend_class(name: str):
    if name not in NAMES:
        raise ValueError(f"unknown backend {name!r}; known: {', '.join(NAMES)}")
    module, cls = NAMES[name]
    return getattr(importlib.import_module(module), cls)


def option_names(cls) -> set[str]:
    """Keyword options of a backend class, following **kw up its bases (netns -> host)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        names |= {p.name for p in params if p.kind == p.KEYWORD_ONLY}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return names


def create(name: str, workdir, **options):
    cls = backend_class(name)
    unknown = sorted(set(options) - option_names(cls))
    if unknown:
        raise ValueError(f"the {name} backend has no option {', '.join(unknown)} "
                         f"(options: {', '.join(sorted(option_names(cls)))})")
    return cls(workdir, **options)
