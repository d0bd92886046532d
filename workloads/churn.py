"""churn: registers that are written, read, compared-and-set and deleted again.

What it checks: that every key behaves as one linearizable compare-and-set
register (the checker's `cas-register` model) when keys also disappear: a
delete lost or applied twice, a read that sees a value written before a delete
that returned, or a cas that matches a deleted value shows up as a history no
sequential register could produce. The `register` load (unique int writes)
plus deletes, which leave a key absent (null), as it starts.

    locust -f workloads/churn.py --headless -u 10 -r 5 -t 30s \\
        --system reference-kv --endpoints 127.0.0.1:8001,127.0.0.1:8002 --history history.jsonl
"""
from __future__ import annotations

from locust import task

from workloads.register import Register


class Churn(Register):
    workload = "churn"

    @task(1)
    def delete(self) -> None:
        self.op("delete", self.keys.pick(self.rng))
