"""kv: YCSB-like get / put mixes over zipfian keys.

What it checks: throughput and latency of the core YCSB mixes, A (50% get, 50%
put), B (95/5) and C (get only), with YCSB's zipfian key popularity over
`--keys` keys (1000) and `--value-size`-byte values; every put value is unique,
so its history is also checkable with the checker's `kv` model. A custom
`--mix get=0.5,put=0.3,append=0.2` brings in string appends.

    locust -f workloads/kv.py --headless -u 20 -r 10 -t 60s --csv out/kv \\
        --system etcd --host http://127.0.0.1:2379 --mix B --value-size 100
"""
from __future__ import annotations

from locust import task

from workloads.keys import ZipfKeys
from workloads.users import StoreUser


class KV(StoreUser):
    workload = "kv"
    default_keys = 1000

    @staticmethod
    def make_keyspace(ctx, keys: int) -> ZipfKeys:
        return ZipfKeys(keys, value_size=ctx.settings.value_size, worker_index=ctx.worker_index,
                        prefix=ctx.key_prefix)

    @task
    def operation(self) -> None:
        f = self.ctx.mix.pick(self.rng)
        key = self.keys.pick(self.rng)
        self.op(f, key, None if f == "get" else self.keys.payload())
