"""Faults against a real 3-node reference KV on the local backend: the cluster reacts as Raft must."""
from __future__ import annotations

import random
import subprocess
import sys
import time

import pytest

from nemesis import faults
from nemesis.backends.local import LocalBackend
from nemesis.faults.base import Context
from nemesis.types import NodeSpec
from nemesis_helpers import http_json, run_id, wait_until

pytestmark = pytest.mark.integration
_help = subprocess.run([sys.executable, "-m", "reference_kv", "--help"], capture_output=True)
if _help.returncode != 0:
    pytest.skip("python -m reference_kv is not available yet", allow_module_level=True)


def kv_argv(a):
    return [sys.executable, "-m", "reference_kv", "--id", a.id, "--listen", str(a.client),
            "--peer-listen", str(a.peer), "--peers", a.dial_list(),
            "--peer-clients", ",".join(f"{k}={v}" for k, v in a.clients.items()),
            "--data-dir", a.data_dir, "--storage", "memory", "--log-level", "WARNING"]


def status(b, node, timeout=0.5):
    return http_json(b.addresses(node).client, "/status", timeout=timeout)


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


@pytest.fixture(scope="module")
def kv(tmp_path_factory):
    rid = run_id()
    b = LocalBackend(tmp_path_factory.mktemp("kv") / rid, rid)
    try:
        b.setup([NodeSpec(id=str(i), argv=kv_argv) for i in (1, 2, 3)])
        for n in b.nodes():
            b.start(n)
        wait_until(lambda: leader(b), timeout=20, what="a leader")
        yield b
    finally:
        b.teardown()


@pytest.fixture
def ctx(kv):
    wait_until(lambda: leader(kv), timeout=20, what="a leader all agree on")
    return Context(kv, rng=random.Random(9), leader=lambda: leader(kv))


def test_isolating_the_leader_elects_another_and_heal_reunites(ctx):
    b = ctx.backend
    pkg = faults.BY_NAME["partition-leader"]
    value = pkg.start(ctx)
    (old,) = [n for n, srcs in value["grudge"].items() if len(srcs) == 2]
    rest = [n for n in b.nodes() if n != old]
    new = wait_until(lambda: leader(b, rest), timeout=20, what="the majority elects a leader")
    assert new != old
    pkg.stop(ctx, value)
    wait_until(lambda: leader(b), timeout=20, what="one leader after heal")
    wait_until(lambda: len({status(b, n)["term"] for n in b.nodes()}) == 1, timeout=20, what="same term")


def test_killing_the_leader_elects_another_and_it_rejoins(ctx):
    b = ctx.backend
    pkg = faults.BY_NAME["kill-leader"]
    value = pkg.start(ctx)
    (old,) = value["nodes"]
    assert status(b, old, timeout=0.3) is None
    rest = [n for n in b.nodes() if n != old]
    assert wait_until(lambda: leader(b, rest), timeout=20, what="a new leader") != old
    pkg.stop(ctx, value)
    wait_until(lambda: (st := status(b, old)) and st["role"] == "follower", timeout=20, what=f"{old} follows")


def test_pausing_the_leader_elects_another(ctx):
    b = ctx.backend
    pkg = faults.BY_NAME["pause-leader"]
    value = pkg.start(ctx)
    (old,) = value["nodes"]
    assert status(b, old, timeout=0.3) is None
    rest = [n for n in b.nodes() if n != old]
    assert wait_until(lambda: leader(b, rest), timeout=20, what="a new leader") != old
    pkg.stop(ctx, value)
    wait_until(lambda: leader(b), timeout=20, what="one leader after resume")
