"""Samples every node's view of the cluster (role, term, leader) during a run.

Elections are measured from these samples (see `analysis.elections`), so the
sampling period bounds their resolution: 20 ms by default, a tenth of the
election times we want to resolve. Each round polls all nodes concurrently
with a timeout below the period, so one paused node cannot stretch a round.
"""
from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

Probe = Callable[[object, float], "dict | None"]


class Monitor:
    def __init__(self, nodes: list, probe: Probe, path, period_s: float = 0.02):
        self.nodes = list(nodes)
        self.probe = probe
        self.path = path
        self.period = period_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(self.nodes)), thread_name_prefix="monitor")
        self.rounds = 0

    def _one(self, node):
        try:
            return self.probe(node, self.period * 2.5)
        except Exception:  # an unreachable node is data, not an error
            return None

    def _loop(self):
        with open(self.path, "a", buffering=1) as fh:
            next_at = time.monotonic()
            while not self._stop.is_set():
                t = time.monotonic_ns()
                results = list(self._pool.map(self._one, self.nodes))
                nodes = {str(n): r for n, r in zip(self.nodes, results)}
                fh.write(json.dumps({"time": t, "nodes": nodes}, separators=(",", ":")) + "\n")
                self.rounds += 1
                next_at += self.period
                delay = next_at - time.monotonic()
                if delay < 0:
                    next_at = time.monotonic()
                elif self._stop.wait(delay):
                    break

    def start(self) -> "Monitor":
        self._thread = threading.Thread(target=self._loop, name="monitor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
