"""Turning JSON values into hashable canonical ones, so that equal JSON
compares equal in both searches and interns to one integer."""
from __future__ import annotations

import json

_SCALARS = (int, str, type(None))


def canon(v):
    # bool and float go through JSON so that true != 1 and 1.0 keeps its spelling.
    if type(v) in _SCALARS:
        return v
    return "\x00json:" + json.dumps(v, sort_keys=True, separators=(",", ":"))


def show(v) -> str:
    if isinstance(v, str) and v.startswith("\x00json:"):
        return v[6:]
    return json.dumps(v)
