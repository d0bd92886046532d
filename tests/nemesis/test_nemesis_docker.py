"""The docker backend with the stand-in node: engine kill/pause, iptables cuts inside containers."""
from __future__ import annotations

import random

import pytest

from nemesis import faults
from nemesis.backends.docker import DockerBackend
from nemesis.images import ensure_base_image
from nemesis.faults.base import Context
from nemesis.types import capabilities
from nemesis_helpers import HERE, hears, http_json, run_id, standin_specs, wait_until
from system_parts import require, require_docker_engine

pytestmark = [pytest.mark.integration, pytest.mark.docker]

require("debootstrap")
require_docker_engine()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    image = ensure_base_image()  # cached by tag after the first build (~1 min)
    rid = run_id()
    b = DockerBackend(tmp_path_factory.mktemp("docker") / rid, rid, image=image,
                      volumes={str(HERE): "/standin:ro"})
    try:
        specs = standin_specs(3, python="python3", script="/standin/standin_node.py")
        b.setup(specs)
        for n in b.nodes():
            b.start(n)
        yield b
    finally:
        b.teardown()
    import docker
    c = docker.from_env()
    assert not c.containers.list(all=True, filters={"label": f"splitbrain.run={rid}"})
    c.close()


def all_hear(b) -> bool:
    return all(hears(b, n, p) for n in b.nodes() for p in b.nodes() if p != n)


@pytest.fixture
def b(cluster):
    wait_until(lambda: all_hear(cluster), timeout=30, what="a connected cluster")
    yield cluster
    cluster.reset_links()


def test_capabilities_and_addresses(b):
    assert set(capabilities(b)) >= {"Killable", "Pausable", "Partitionable", "Lossy"}
    a = b.addresses("n1")
    assert a.dial == a.cluster and a.client.host == a.host


def test_cut_and_restore_inside_the_container(b):
    b.cut("n1", "n2")
    wait_until(lambda: hears(b, "n2", "n1") is False, timeout=5, what="n2 deaf to n1")
    assert hears(b, "n1", "n2")
    b.restore("n1", "n2")
    wait_until(lambda: hears(b, "n2", "n1"), timeout=15, what="n2 hears n1")


def test_kill_restart_keeps_cuts_and_pause(b):
    ctx = Context(b, rng=random.Random(1))
    b.cut("n3", "n1")
    value = faults.get("kill-one").start(ctx)
    (node,) = value["nodes"]
    assert http_json(b.addresses(node).client, timeout=0.5) is None
    faults.get("kill-one").stop(ctx, value)
    wait_until(lambda: http_json(b.addresses(node).client), timeout=20, what=f"{node} restarted")
    wait_until(lambda: hears(b, "n1", "n2"), timeout=15, what="n1 hears n2")
    assert not hears(b, "n1", "n3")  # the cut survived the restart
    b.pause("n2")
    assert http_json(b.addresses("n2").client, timeout=0.5) is None
    b.resume("n2")
    wait_until(lambda: http_json(b.addresses("n2").client), what="n2 resumed")
