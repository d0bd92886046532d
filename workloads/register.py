"""register: Jepsen-style read / write / cas on a few independent keys at a time.

What it checks: that every key behaves as one linearizable compare-and-set
register (the checker's `cas-register` model) under the faults of the run.
Writes carry unique ints and a cas expects one of the key's recent values, so a
lost, duplicated, reordered or stale operation shows up as a history no
sequential register could produce. Keys live for the whole run by default (the
checker decides unique-value histories in polynomial time, and a long-lived key
carries its state across several faults); `--ops-per-key N` rotates them.

Locust's command line, for those who want its CLI, web UI or distributed mode:

    locust -f workloads/register.py --headless -u 10 -r 5 -t 30s \\
        --system etcd --endpoints 127.0.0.1:2379,127.0.0.1:22379 --history history.jsonl

(`--host http://127.0.0.1:2379` works too.) Checked runs keep one machine, one clock.
"""
from __future__ import annotations

from locust import task

from workloads.keys import RotatingRegisters
from workloads.users import StoreUser


class Register(StoreUser):
    workload = "register"

    @staticmethod
    def make_keyspace(ctx, keys: int) -> RotatingRegisters:
        return RotatingRegisters(keys, ctx.settings.ops_per_key, ctx.worker_index, prefix=ctx.key_prefix)

    @task(2)
    def read(self) -> None:
        self.op("read", self.keys.pick(self.rng))

    @task(2)
    def write(self) -> None:
        key = self.keys.pick(self.rng)
        self.op("write", key, self.keys.fresh_value(key))

    @task(1)
    def cas(self) -> None:
        key = self.keys.pick(self.rng)
        expected = self.keys.recent_value(key, self.rng)
        if expected is None:  # nothing written here yet: a read teaches as much
            self.op("read", key)
        else:
            self.op("cas", key, [expected, self.keys.fresh_value(key)])
