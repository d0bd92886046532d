"""Where a run's own output goes when a command runs many of them."""
from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def redirected(to_fd: int, *fds: int):
    """Point file descriptors `fds` at `to_fd` meanwhile (children started meanwhile inherit it: the load
    process prints Locust's tables on its stdout), then back."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = [os.dup(fd) for fd in fds]
    try:
        for fd in fds:
            os.dup2(to_fd, fd)
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        for fd, s in zip(fds, saved):
            os.dup2(s, fd)
            os.close(s)
