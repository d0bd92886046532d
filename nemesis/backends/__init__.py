"""Backends by name. Each module is imported only when asked for (docker and paramiko are heavy)."""
from __future__ import annotations

import importlib

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


def create(name: str, workdir, **options):
    return backend_class(name)(workdir, **options)
