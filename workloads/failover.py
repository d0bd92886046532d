"""failover: a register whose readers stay with the node that last answered them,
while its writers look for the leader anew on every write.

What it checks: the same as `register` (each key one linearizable
compare-and-set register), with the load shaped the way real client fleets
straddle a failover: long-lived reader connections keep asking the node they
found leading, while writers, each write on a fresh client from a random
node, follow the cluster to whichever node leads now. A deposed leader that
still answers reads from its own state (an expired or over-trusted lease) then
returns values the new leader has already overwritten.

    locust -f workloads/failover.py --headless -u 30 -r 30 -t 30s \\
        --system reference-kv --endpoints 127.0.0.1:8001,127.0.0.1:8002 --history history.jsonl
"""
from __future__ import annotations

from locust import task

from workloads.clients import make_client
from workloads.keys import RotatingRegisters
from workloads.users import StoreUser


# A writer gives up on a node that does not answer well before a lease could run out elsewhere and
# tries the next one (same request id, so at most once), so writers stuck on a deposed leader find
# the new one within a failover; the operation keeps the run's whole timeout.
WRITE_ATTEMPT_TIMEOUT = 0.08


class Failover(StoreUser):
    workload = "failover"

    @staticmethod
    def make_keyspace(ctx, keys: int) -> RotatingRegisters:
        return RotatingRegisters(keys, ctx.settings.ops_per_key or 100, ctx.worker_index, prefix=ctx.key_prefix)

    @task(1)
    def read(self) -> None:
        self.op("read", self.keys.pick(self.rng))

    @task(1)
    def write(self) -> None:
        key = self.keys.pick(self.rng)
        s = self.ctx.settings
        sticky, self.client = self.client, make_client(s.system, list(s.endpoints), timeout=s.timeout,
                                                       read_mode=s.read_mode,
                                                       start=self.rng.randrange(len(s.endpoints)))
        library = getattr(self.client, "_client", None)  # the reference KV's own client, when it is that
        if hasattr(library, "attempt_timeout"):
            library.attempt_timeout = min(library.attempt_timeout, WRITE_ATTEMPT_TIMEOUT)
        try:
            self.op("write", key, self.keys.fresh_value(key))
        finally:
            self.client.close()
            self.client = sticky
