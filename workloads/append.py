"""append: Jepsen-style appends of unique tokens to a few keys, and reads of whole values.

What it checks: that each key behaves as one linearizable string (the checker's
`kv` model) with every append applied exactly once. Each append adds a token no
other operation adds (`<n>,`), so a write applied twice (a retry the server did
not deduplicate), lost, or reordered reads back as a string no sequential
history produces. Keys live for the whole run by default (the checker reads the order
of appends from the reads in one pass); `--ops-per-key N` rotates them, which also
bounds the value every read returns.

    locust -f workloads/append.py --headless -u 10 -r 5 -t 30s \\
        --system reference-kv --endpoints 127.0.0.1:8001,127.0.0.1:8002 --history history.jsonl
"""
from __future__ import annotations

from locust import task

from workloads.keys import RotatingRegisters
from workloads.users import StoreUser


class Append(StoreUser):
    workload = "append"

    @staticmethod
    def make_keyspace(ctx, keys: int) -> RotatingRegisters:
        return RotatingRegisters(keys, ctx.settings.ops_per_key, ctx.worker_index, prefix=ctx.key_prefix)

    @task(1)
    def get(self) -> None:
        self.op("get", self.keys.pick(self.rng))

    @task(1)
    def append(self) -> None:
        key = self.keys.pick(self.rng)
        self.op("append", key, f"{self.keys.fresh_value(key)},")
