"""reads: a read-heavy register load, run once per read mode to compare them.

What it checks: that the chosen `--read-mode` (readindex, lease, log, follower,
local-unsafe for the reference KV; linearizable or serializable for etcd) keeps
reads linearizable against concurrent writes on the same keys (the checker's
`cas-register` model), and, by running the same load per mode, what each mode
costs in read latency and throughput. Nine reads to one write of a unique int.

    locust -f workloads/reads.py --headless -u 10 -r 10 -t 30s \\
        --system reference-kv --endpoints 127.0.0.1:7001,127.0.0.1:7002 --read-mode lease
"""
from __future__ import annotations

from locust import task

from workloads.keys import RotatingRegisters
from workloads.users import StoreUser


class Reads(StoreUser):
    workload = "reads"

    @staticmethod
    def make_keyspace(ctx, keys: int) -> RotatingRegisters:
        return RotatingRegisters(keys, ctx.settings.ops_per_key or 100, ctx.worker_index, prefix=ctx.key_prefix)

    @task(9)
    def read(self) -> None:
        self.op("read", self.keys.pick(self.rng))

    @task(1)
    def write(self) -> None:
        key = self.keys.pick(self.rng)
        self.op("write", key, self.keys.fresh_value(key))
