"""The load's own events (start, stop, a user that died), for the run to say when the load
was healthy and when it was not.

A user is a greenlet; one that ends before the load is stopping died: its client raised
something no one caught (gevent's Timeout and asyncio's CancelledError are BaseExceptions
that pass `except Exception`), or its start failed. Each death is one line with the
time (the history's clock), the user and the exception, written with the history's
appending protocol so a killed run keeps every line.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from checker.appender import HistoryFile


class LoadEvents:
    def __init__(self, path: str | None, echo: Callable[[dict], Any] | None = None) -> None:
        self.file = HistoryFile(path) if path else None
        self.echo = echo
        self.stopping = False  # set before the load stops its users: ends after this are no deaths
        self.died = 0

    def write(self, event: str, **fields) -> dict:
        ev = {"event": event, **fields}
        if self.file is not None:
            self.file.record(ev)
        else:
            ev["time"] = time.monotonic_ns()
        if self.echo is not None:
            self.echo(ev)
        return ev

    def watch(self, greenlet, user: int) -> None:
        """Say so if this user's greenlet ends before the load stops."""
        greenlet.link(lambda g: self._ended(g, user))

    def _ended(self, greenlet, user: int) -> None:
        if self.stopping:
            return
        exc = greenlet.exception
        self.died += 1
        self.write("user-died", user=user, error=describe(exc) if exc is not None else "the user returned early")

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


def describe(exc: BaseException) -> str:
    """`gevent.timeout.Timeout: 1 second` : the exception's full class name and message."""
    cls = type(exc)
    name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    text = str(exc)
    return f"{name}: {text}" if text else name

