"""Clock control through libfaketime: offsets and rates reach a running node's clocks and sleeps."""
from __future__ import annotations

import random
import sys
import time

import pytest

from nemesis import faults
from nemesis.backends.local import LocalBackend
from nemesis.faults.base import Context
from nemesis_helpers import http_json, run_id, standin_specs, wait_until
from system_parts import require

pytestmark = pytest.mark.integration
require("faketime")

# /proc/uptime is a file read, which libfaketime leaves alone: the real clock inside the process.
SLEEPER = """
import asyncio, time
def real():
    return float(open("/proc/uptime").read().split()[0])
async def main():
    t, r = time.monotonic(), real()
    await asyncio.sleep({s})
    print(time.monotonic() - t, real() - r)
asyncio.run(main())
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    rid = run_id()
    b = LocalBackend(tmp_path_factory.mktemp("clock") / rid, rid, clock_control=True)
    try:
        b.setup(standin_specs(3))
        for n in b.nodes():
            b.start(n)
        for n in b.nodes():
            wait_until(lambda: http_json(b.addresses(n).client, "/time"), what=f"{n} up")
        yield b
    finally:
        b.teardown()


def node_clock(b, node):
    return http_json(b.addresses(node).client, "/time")


def test_offset_moves_the_wall_clock_of_a_running_node(cluster):
    cluster.set_clock("n1", 3600.5)
    try:
        t = node_clock(cluster, "n1")["time"]
        assert abs(t - time.time() - 3600.5) < 0.5
        assert abs(node_clock(cluster, "n2")["time"] - time.time()) < 0.5
    finally:
        cluster.set_clock("n1", 0.0)
    assert abs(node_clock(cluster, "n1")["time"] - time.time()) < 0.5


@pytest.mark.parametrize("rate", [4.0, 0.5])
def test_rate_scales_monotonic_time_of_a_running_node(cluster, rate):
    cluster.set_clock("n2", 0.0, rate)
    try:
        a = node_clock(cluster, "n2")["monotonic"]
        t0 = time.monotonic()
        time.sleep(0.6)
        b = node_clock(cluster, "n2")["monotonic"]
        real = time.monotonic() - t0
        assert (b - a) / real == pytest.approx(rate, rel=0.25)
    finally:
        cluster.set_clock("n2", 0.0, 1.0)


@pytest.mark.parametrize("rate,fake_s", [(4.0, 2.0), (0.5, 0.4)])
def test_rate_scales_asyncio_sleeps(cluster, rate, fake_s):
    cluster.set_clock("n3", 0.0, rate)
    try:
        r = cluster.exec("n3", [sys.executable, "-c", SLEEPER.format(s=fake_s)], timeout=20)
    finally:
        cluster.set_clock("n3", 0.0, 1.0)
    assert r.returncode == 0, r.stderr
    fake, real = map(float, r.stdout.split())
    assert fake >= fake_s * 0.95  # the process believes it slept the full time
    assert fake_s / rate * 0.7 < real < fake_s / rate * 1.3 + 0.1


def test_clock_packages_record_and_reset(cluster):
    ctx = Context(cluster, rng=random.Random(4))
    for name in ("clock-skew", "clock-bump", "clock-rate", "clock-strobe"):
        pkg = faults.get(name)
        value = pkg.start(ctx)
        if name == "clock-bump":
            (node, off), = value["offsets"].items()
            assert abs(node_clock(cluster, node)["time"] - time.time() - off) < 1
        if name == "clock-strobe":
            seen = set()
            node = value["nodes"][0]
            wait_until(lambda: seen.add(round(node_clock(cluster, node)["time"] - time.time(), 1)) or len(seen) > 1,
                       timeout=3, what="the clock flips")
        pkg.stop(ctx, value)
        assert not ctx.clocks_touched
        for n in cluster.nodes():
            assert abs(node_clock(cluster, n)["time"] - time.time()) < 0.5
