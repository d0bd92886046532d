"""SIGINT, SIGTERM and SIGHUP stop a run the same way.

`timeout`, CI cancellation, `docker stop` and `systemctl stop` send SIGTERM; a closed
terminal sends SIGHUP. Each is handled as Ctrl-C is: the first one raises `Interrupted`
in the main thread while the run is under way, so its `finally` heals the faults,
resumes paused nodes, stops everything and writes the summary and report. Once that
teardown has begun (`stopping()`), a signal is only noted and reported: cutting the
teardown short is what leaves a cluster behind. SIGKILL cannot be handled; what it
leaves, `splitbrain cleanup` removes.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Callable

from splitbrain.errors import Interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stop:
    """The signal that stopped the run (0: none), and whether its teardown has begun."""

    def __init__(self, say: Callable[[str], None]):
        self.signum = 0
        self.tearing_down = False
        self.say = say

    def handle(self, signum, frame) -> None:
        name = signal.Signals(signum).name
        if self.tearing_down or self.signum:
            self.signum = self.signum or signum
            self.say(f"{name}: already stopping; healing, stopping the nodes and writing the summary first "
                     f"(after a SIGKILL, `splitbrain cleanup` removes what the run left)")
            return
        self.signum = signum
        raise Interrupted(signum)

    def stopping(self) -> None:
        """From here on a signal is noted, never raised: the teardown runs to its end."""
        self.tearing_down = True


@contextlib.contextmanager
def stop_on_signals(say: Callable[[str], None]):
    """Handle SIGINT, SIGTERM and SIGHUP as one; yields the `Stop`. Signal handlers belong to the
    main thread: elsewhere (a run started from a worker thread) the defaults stay."""
    stop = Stop(say)
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    old = {s: signal.signal(s, stop.handle) for s in SIGNALS}
    try:
        yield stop
    finally:
        for s, h in old.items():
            signal.signal(s, h)
