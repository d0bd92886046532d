"""Faults against a real 3-node reference KV on the local backend: the cluster reacts as Raft must."""
from __future__ import annotations

import random

import pytest

from kv_helpers import isolate_leader, kill_leader, kv_specs, leader, pause_leader, reference_kv_missing
from nemesis.backends.local import LocalBackend
from nemesis.faults.base import Context
from nemesis_helpers import run_id, wait_until

pytestmark = pytest.mark.integration
if reference_kv_missing():
    pytest.skip(reference_kv_missing(), allow_module_level=True)


@pytest.fixture(scope="module")
def kv(tmp_path_factory):
    rid = run_id()
    b = LocalBackend(tmp_path_factory.mktemp("kv") / rid, rid)
    try:
        b.setup(kv_specs(3))
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
    isolate_leader(ctx)


def test_killing_the_leader_elects_another_and_it_rejoins(ctx):
    kill_leader(ctx)


def test_pausing_the_leader_elects_another(ctx):
    pause_leader(ctx)
