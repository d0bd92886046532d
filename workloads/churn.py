"""churn: registers that are written, read, compared-and-set and deleted again.

What it checks: that every key behaves as one linearizable compare-and-set
register (the checker's `cas-register` model) when keys also disappear: a
delete lost or applied twice, a read that sees a value written before a delete
that returned, or a cas that matches a deleted value shows up as a history no
sequential register could produce. Writes carry unique ints; a delete leaves
the key absent (null), as it starts.

    locust -f workloads/churn.py --headless -u 10 -r 5 -t 30s \\
        --system reference-kv --endpoints 127.0.0.1:8001,127.0.0.1:8002 --history history.jsonl
"""
from __future__ import annotations

from locust import task

from workloads.keys import RotatingRegisters
from workloads.users import StoreUser


class Churn(StoreUser):
    workload = "churn"

    @staticmethod
    def make_keyspace(ctx, keys: int) -> RotatingRegisters:
        return RotatingRegisters(keys, ctx.settings.ops_per_key, ctx.worker_index, prefix=ctx.key_prefix)

    @task(3)
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
        if expected is None:
            self.op("read", key)
        else:
            self.op("cas", key, [expected, self.keys.fresh_value(key)])

    @task(1)
    def delete(self) -> None:
        self.op("delete", self.keys.pick(self.rng))
