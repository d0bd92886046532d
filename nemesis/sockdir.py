"""A short private directory for Unix control sockets.

An AF_UNIX path is limited to 108 bytes, and a run's work dir (results/<run>/nodes,
or pytest's tmp_path plus a run name) easily exceeds it, so control sockets never
live in the work dir. They go to a 0700 directory named after the run id in a
short temp dir, removed at teardown (and by `nemesis.sweep` after a crash).
"""
from __future__ import annotations

import os
import shutil
import tempfile

# room left for "/<run>-XXXXXXXX/<node>-fuse.sock" under the 108-byte limit
_MAX_BASE = 60


def base_dir() -> str:
    """Where socket dirs go: $TMPDIR when it is short enough, else /tmp."""
    t = tempfile.gettempdir()
    return t if len(t) <= _MAX_BASE else "/tmp"


class SocketDir:
    def __init__(self, run_id: str):
        self.run_id = run_id
        self.path: str | None = None

    def socket(self, name: str) -> str:
        if self.path is None:
            self.path = tempfile.mkdtemp(prefix=f"{self.run_id}-", dir=base_dir())
        p = os.path.join(self.path, name)
        if len(p.encode()) >= 108:
            raise ValueError(f"socket path too long for AF_UNIX: {p}")
        return p

    def remove(self) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = None
