"""porcupine-py: linearizability checking of histories (see DESIGN.md).

    import checker
    h = checker.load("history.jsonl")            # or format="jepsen-log" | "porcupine-kv"
    r = checker.check(h, model="cas-register", timeout=60)
    r.valid                                       # True | False | "unknown" | "empty" (no operations)
    checker.write_html(r, "linearizability.html")

Custom models: `checker.Model` (protocol documented in checker/model.py).
"""
from __future__ import annotations

from checker.core import EMPTY, UNKNOWN, PartitionResult, Result, check
from checker.history import HistoryError, load
from checker.model import Model
from checker.native import CompiledMissing


def write_html(result: Result, path) -> None:
    """A self-contained offline HTML visualization of `result`."""
    from checker.html import write_html as _write

    _write(result, path)


__all__ = ["check", "load", "write_html", "Model", "Result", "PartitionResult", "HistoryError",
           "CompiledMissing", "UNKNOWN", "EMPTY"]
