"""The abstract Locust user that owns a system client; workloads subclass it and add tasks.

Each user is one history process at a time: it contacts the endpoints starting
at its own index (spreading load over the members), waits by the shared pacer,
and after an operation whose outcome is unknown continues as a new process, as
the history format requires.
"""
from __future__ import annotations

from typing import Any, Callable

from locust import User

from workloads.clients import make_client
from workloads.options import RunContext, run_context
from workloads.recorder import Completion


class StoreUser(User):
    abstract = True
    workload = ""
    """Name used in history-free places: Locust's stats (`workload/f`)."""
    default_keys = 3
    make_keyspace: Callable[[RunContext, int], Any]
    """Builds the key space all users of this workload share, from the context and the key count."""

    def on_start(self) -> None:
        self.ctx = run_context(self.environment, self.workload)
        s = self.ctx.settings
        self.index, self.rng = self.ctx.next_user()
        self.ctx.watch(self.index)  # a user that dies before the end is said, never hidden
        self.keys = self.ctx.keyspace(self.workload, lambda ctx: type(self).make_keyspace(ctx, s.keys or self.default_keys))
        self.client = make_client(s.system, list(s.endpoints), timeout=s.timeout, read_mode=s.read_mode,
                                  start=self.index)
        self.process = self.ctx.recorder.new_process()

    def on_stop(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()

    def wait_time(self) -> float:
        return self.ctx.pacer.delay()

    def op(self, f: str, key: str, value: Any = None) -> Completion:
        done = self.ctx.recorder.perform(self.client, self.process, f, key, value)
        if done.type == "info":
            self.process = self.ctx.recorder.new_process()
        return done
