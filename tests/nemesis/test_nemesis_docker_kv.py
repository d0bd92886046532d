"""The real reference KV (Pebble storage) in containers of the node image: the image carries
the compiled shim and the node's dependencies; faults make Raft react; the clock is faked."""
from __future__ import annotations

import time

import pytest

from kv_helpers import isolate_leader, kill_leader, kv_context, kv_specs, pause_leader, running_kv
from nemesis.backends.docker import DockerBackend
from nemesis.types import capabilities
from nemesis_helpers import run_id
from system_parts import require, require_docker_engine

pytestmark = [pytest.mark.integration, pytest.mark.docker]

require("debootstrap")
require_docker_engine()


@pytest.fixture(scope="module")
def kv(tmp_path_factory):
    from nemesis.images import PYTHON, ensure_node_image
    image = ensure_node_image()  # cached by content hash; ~1.5 min when the tree changed
    rid = run_id()
    work = tmp_path_factory.mktemp("dockerkv") / rid
    b = DockerBackend(work, rid, image=image, python=PYTHON, clock_control=True)
    with running_kv(b, kv_specs(3, storage="pebble"), timeout=60):
        yield b
    assert (work / "1" / "node.log").exists(), "container logs were not saved at teardown"
    import docker
    c = docker.from_env()
    assert not c.containers.list(all=True, filters={"label": f"splitbrain.run={rid}"})
    c.close()


@pytest.fixture
def ctx(kv):
    return kv_context(kv, seed=3, timeout=30)


def test_pebble_data_lands_in_the_host_data_dir(ctx):
    b = ctx.backend
    assert set(capabilities(b)) >= {"Killable", "Pausable", "Partitionable", "Lossy", "ClockControl"}
    data = b.workdir + "/1/data"
    import os
    assert os.listdir(data), "the node wrote nothing to /data"


def test_isolating_the_leader_elects_another(ctx):
    isolate_leader(ctx, timeout=30)


def test_kill_and_restart(ctx):
    kill_leader(ctx, timeout=30)


def test_pause_and_resume(ctx):
    pause_leader(ctx, timeout=30)


def test_clock_offset_reaches_the_container(ctx):
    b = ctx.backend

    def skew():
        r = b.exec("2", ["date", "+%s"])
        return int(r.stdout.strip()) - time.time()

    b.set_clock("2", 3600.0)
    try:
        assert 3590 < skew() < 3610
    finally:
        b.set_clock("2", 0.0)
    assert abs(skew()) < 10
