"""A real 3-node reference KV under the nemesis: node argv, leader probes, and the three
scenarios (isolate / kill / pause the leader) that every backend's KV test runs."""
from __future__ import annotations

import contextlib
import functools
import random
import subprocess
import sys

from nemesis import faults
from nemesis.faults.base import Context
from nemesis.types import NodeSpec
from nemesis_helpers import wait_until
from reference_kv import admin
from reference_kv.launch import placed_argv


@functools.cache
def reference_kv_missing() -> str | None:
    r = subprocess.run([sys.executable, "-m", "reference_kv", "--help"], capture_output=True)
    return None if r.returncode == 0 else "python -m reference_kv is not available yet"


def kv_argv(a, storage: str = "pebble"):
    return placed_argv(a, storage=storage, log_level="WARNING")


def kv_specs(n: int = 3, storage: str = "pebble") -> list[NodeSpec]:
    return [NodeSpec(id=str(i), argv=functools.partial(kv_argv, storage=storage)) for i in range(1, n + 1)]


def status(b, node, timeout=0.5):
    return admin.status(str(b.addresses(node).client), timeout)


def leader(b, among=None):
    """The node that every answering node in `among` names as leader, if they agree."""
    among = among or b.nodes()
    seen = {st.get("leader") for n in among if (st := status(b, n))}
    seen = {str(x) for x in seen if x is not None}
    if len(seen) == 1 and next(iter(seen)) in among:
        (lead,) = seen
        st = status(b, lead)
        if st and st.get("role") == "leader":
            return lead
    return None


@contextlib.contextmanager
def running_kv(b, specs, timeout: float):
    """The backend with the KV nodes started and a leader elected; always torn down."""
    try:
        b.setup(specs)
        for n in b.nodes():
            b.start(n)
        wait_until(lambda: leader(b), timeout=timeout, what="a leader")
        yield b
    finally:
        b.teardown()


def kv_context(b, seed: int, timeout: float = 20) -> Context:
    """A fault context once the nodes agree on a leader again (a previous test may have moved it)."""
    wait_until(lambda: leader(b), timeout=timeout, what="a leader all agree on")
    return Context(b, rng=random.Random(seed), leader=lambda: leader(b), status=lambda n, t: status(b, n, t))


def isolate_leader(ctx, timeout: float = 20):
    b = ctx.backend
    pkg = faults.get("partition-leader")
    value = pkg.start(ctx)
    (old,) = [n for n, srcs in value["grudge"].items() if len(srcs) == 2]
    rest = [n for n in b.nodes() if n != old]
    new = wait_until(lambda: leader(b, rest), timeout=timeout, what="the majority elects a leader")
    assert new != old
    pkg.stop(ctx, value)
    wait_until(lambda: leader(b), timeout=timeout, what="one leader after heal")
    wait_until(lambda: len({(status(b, n) or {}).get("term") for n in b.nodes()}) == 1, timeout=timeout,
               what="same term")


def kill_leader(ctx, timeout: float = 20):
    b = ctx.backend
    pkg = faults.get("kill-leader")
    value = pkg.start(ctx)
    (old,) = value["nodes"]
    assert not b.is_running(old)
    assert status(b, old, timeout=0.3) is None
    rest = [n for n in b.nodes() if n != old]
    assert wait_until(lambda: leader(b, rest), timeout=timeout, what="a new leader") != old
    pkg.stop(ctx, value)
    wait_until(lambda: (st := status(b, old)) and st["role"] == "follower", timeout=timeout,
               what=f"{old} follows")


def pause_leader(ctx, timeout: float = 20):
    b = ctx.backend
    pkg = faults.get("pause-leader")
    value = pkg.start(ctx)
    (old,) = value["nodes"]
    assert status(b, old, timeout=0.3) is None
    rest = [n for n in b.nodes() if n != old]
    assert wait_until(lambda: leader(b, rest), timeout=timeout, what="a new leader") != old
    pkg.stop(ctx, value)
    wait_until(lambda: leader(b), timeout=timeout, what="one leader after resume")
