"""Nemesis events into the run's history file, shared with Locust's recorder in another process."""
from __future__ import annotations

import json
import os
import threading
import time
from typing import Any


class HistoryWriter:
    """Appends one JSON line per event with a single write() on an O_APPEND descriptor,
    so lines from several processes never interleave."""

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.lock = threading.Lock()

    def event(self, f: str, value: Any, **extra: Any) -> dict:
        ev = {"process": "nemesis", "type": "info", "f": f, "value": value, "time": time.monotonic_ns()}
        ev.update(extra)
        line = (json.dumps(ev, sort_keys=False, default=str) + "\n").encode()
        with self.lock:
            if os.write(self.fd, line) != len(line):
                raise OSError(f"short write to {self.path}")
        return ev

    def close(self) -> None:
        with self.lock:
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1


class MemoryHistory:
    """Same interface, kept in memory (for callers with no history file)."""

    def __init__(self):
        self.events: list[dict] = []

    def event(self, f: str, value: Any, **extra: Any) -> dict:
        ev = {"process": "nemesis", "type": "info", "f": f, "value": value, "time": time.monotonic_ns(), **extra}
        self.events.append(ev)
        return ev

    def close(self) -> None:
        pass
