"""The mount table as the kernel reports it (/proc/mounts), with paths unescaped.

The kernel writes a space, tab, newline and backslash in a path as octal escapes
(`\\040`, `\\011`, `\\012`, `\\134`), so a path with a space must be decoded before it
is compared with one of ours.
"""
from __future__ import annotations

import re
from typing import NamedTuple

_OCTAL = re.compile(r"\\([0-7]{3})")


class Mount(NamedTuple):
    device: str
    point: str
    fstype: str


def unescape(field: str) -> str:
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def table(path: str = "/proc/mounts") -> list[Mount]:
    """Every mount, in mount order; empty when the table cannot be read."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    return [Mount(unescape(p[0]), unescape(p[1]), p[2]) for p in (line.split() for line in lines) if len(p) >= 3]
