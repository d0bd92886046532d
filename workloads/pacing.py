"""A shared pacer: all users of a process together aim at one operation rate.

Each call reserves the next free slot, `1/rate` after the previous one, and
returns how long to wait for it. A slot is never earlier than now, so users
that fell behind (a slow server) do not burst afterwards to catch up: the rate
is a ceiling and an open-loop target, not a debt.
"""
from __future__ import annotations

import time
from typing import Callable


class Pacer:
    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.clock = clock
        self._next = 0.0

    def delay(self) -> float:
        if not self.interval:
            return 0.0
        now = self.clock()
        slot = max(now, self._next)
        self._next = slot + self.interval
        return slot - now
