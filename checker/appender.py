"""Appending to a history file that several processes write at once.

A run's clients (a Locust process) and its nemesis (the suite's process) write
one history. Every writer follows one protocol: take an exclusive flock on the
file, read the clock, write the whole line with one write(), unlock. Lines are
then in time order in the file, which the checker requires, and never
interleave.
"""
from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from typing import Callable


class HistoryFile:
    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._lock = threading.Lock()

    def record(self, event: dict, clock: Callable[[], int] = time.monotonic_ns, since: int | None = None) -> int:
        """Sets event["time"] from clock (and "latency" = time - since) and appends it; returns the time."""
        with self._lock:
            if self._fd is None:
                raise ValueError(f"history {self.path} is closed")
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                stamp = event["time"] = clock()
                if since is not None:
                    event["latency"] = stamp - since
                line = (json.dumps(event, separators=(",", ":"), default=str) + "\n").encode()
                written = os.write(self._fd, line)
                if written != len(line):  # only on a full disk or a signal; keep the line whole if we can
                    os.write(self._fd, line[written:])
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        return stamp

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
