"""Faults against a real 3-node reference KV on the local backend: the cluster reacts as Raft must."""
from __future__ import annotations


import pytest

from kv_helpers import isolate_leader, kill_leader, kv_context, kv_specs, pause_leader, reference_kv_missing, running_kv
from nemesis.backends.local import LocalBackend
from nemesis_helpers import run_id

pytestmark = pytest.mark.integration
if reference_kv_missing():
    pytest.skip(reference_kv_missing(), allow_module_level=True)


@pytest.fixture(scope="module")
def kv(tmp_path_factory):
    rid = run_id()
    b = LocalBackend(tmp_path_factory.mktemp("kv") / rid, rid)
    with running_kv(b, kv_specs(3), timeout=20):
        yield b


@pytest.fixture
def ctx(kv):
    return kv_context(kv, seed=9)


def test_isolating_the_leader_elects_another_and_heal_reunites(ctx):
    isolate_leader(ctx)


def test_killing_the_leader_elects_another_and_it_rejoins(ctx):
    kill_leader(ctx)


def test_pausing_the_leader_elects_another(ctx):
    pause_leader(ctx)
