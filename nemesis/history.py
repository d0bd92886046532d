"""Nemesis events into the run's history file, shared with Locust's recorder in another process."""
from __future__ import annotations

import os
import time
from typing import Any

from checker.appender import HistoryFile


class HistoryWriter:
    """Nemesis events into the shared history, by the protocol every writer follows
    (checker.appender): stamped under the file's flock, so lines stay in time order."""

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        self._file = HistoryFile(path)

    def event(self, f: str, value: Any, **extra: Any) -> dict:
        ev = {"process": "nemesis", "type": "info", "f": f, "value": value, **extra}
        self._file.record(ev)
        return ev

    def close(self) -> None:
        self._file.close()


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
