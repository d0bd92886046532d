"""libfaketime plumbing: the environment a node starts with and the live control file.

libfaketime (Debian `libfaketime`) is preloaded into the node; with
FAKETIME_NO_CACHE=1 it rereads FAKETIME_TIMESTAMP_FILE on every clock call, so
rewriting the file changes the node's wall clock, its monotonic clock and the
length of its sleeps (poll/epoll timeouts are scaled by the rate) while it runs.
Known trap: with a faked monotonic clock `threading.Event.wait` with a timeout
can hang; asyncio sleeps work (tests/nemesis/test_clock.py pins this down).

The library is libfaketimeMT, the synchronized build Debian ships beside the
plain one. The plain one rereads the control file in every clock call into
unlocked globals: while the rate changes, a thread can read a time made of the
old line's rate and the new line's offset, seconds off, then the right time
again. A node's lease clock saw one such step ahead and back and stood still
for a second (tests/nemesis/test_clock_threads.py, tests/kv/test_clock_steps.py).
"""
from __future__ import annotations

import os
import pathlib

LIBFAKETIME_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/faketime/libfaketimeMT.so.1",
)


def find_libfaketime() -> str | None:
    for path in LIBFAKETIME_CANDIDATES:
        if os.path.exists(path):
            return path
    return None


def spec(offset: float, rate: float) -> str:
    """The control file's line: relative offset in seconds and a speed factor."""
    if rate <= 0:
        raise ValueError(f"clock rate must be > 0, got {rate}")
    return f"{offset:+.3f} x{rate:g}\n"


def environment(lib: str, control_file: str) -> dict[str, str]:
    return {"LD_PRELOAD": lib, "FAKETIME_TIMESTAMP_FILE": control_file, "FAKETIME_NO_CACHE": "1"}


def write_control(path: str | pathlib.Path, offset: float, rate: float = 1.0) -> None:
    """Replace the file atomically so a reader never sees half a line."""
    path = pathlib.Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(spec(offset, rate))
    os.replace(tmp, path)
