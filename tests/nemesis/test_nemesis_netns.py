"""The netns backend against the stand-in node: iptables cuts and loss, tc rates, processes."""
from __future__ import annotations

import random
import subprocess

import pytest

from nemesis import faults
from nemesis.backends.netns import NetnsBackend, missing_requirements
from nemesis.faults.base import Context
from nemesis.types import capabilities
from nemesis_helpers import running_standins, hears, http_json, run_id, standin_specs, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.root]
if missing_requirements():
    pytest.skip(missing_requirements(), allow_module_level=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    rid = run_id()
    yield from running_standins(NetnsBackend, tmp_path_factory.mktemp("netns"), rid)
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert rid not in names, "namespaces left behind"
    assert rid not in subprocess.run(["ip", "link"], capture_output=True, text=True).stdout
    assert rid not in subprocess.run(["iptables", "-S"], capture_output=True, text=True).stdout


def all_hear(b) -> bool:
    return all(hears(b, n, p) for n in b.nodes() for p in b.nodes() if p != n)


@pytest.fixture
def b(cluster):
    wait_until(lambda: all_hear(cluster), what="a connected cluster")
    yield cluster
    cluster.reset_links()


def test_nodes_have_their_own_addresses_and_namespaces(b):
    a = b.addresses("n1")
    assert a.dial == a.cluster and a.peer.port == 9000
    r = b.exec("n1", ["ip", "-o", "-4", "addr", "show", "eth0"])
    assert a.host in r.stdout
    assert set(capabilities(b)) >= {"Killable", "Pausable", "Partitionable", "Lossy", "Throttleable"}
    assert "Delayable" not in capabilities(b)


def test_one_way_cut_drops_established_flows_and_restores(b):
    b.cut("n1", "n2")
    wait_until(lambda: hears(b, "n2", "n1") is False, timeout=3, what="n2 deaf to n1")
    assert hears(b, "n1", "n2") and hears(b, "n3", "n1")
    b.restore("n1", "n2")
    wait_until(lambda: hears(b, "n2", "n1"), timeout=10, what="n2 hears n1 again")


def test_partition_package_and_heal(b):
    ctx = Context(b, rng=random.Random(2))
    pkg = faults.get("partition-one")
    value = pkg.start(ctx)
    (lonely,) = [n for n, srcs in value["grudge"].items() if len(srcs) == 2]
    for p in b.nodes():
        if p != lonely:
            wait_until(lambda: hears(b, lonely, p) is False and hears(b, p, lonely) is False, timeout=3,
                       what=f"{lonely} isolated from {p}")
    pkg.stop(ctx, value)
    wait_until(lambda: all_hear(b), timeout=10, what="healed")


def test_total_loss_silences_a_link(b):
    b.set_loss("n3", "n1", 1.0)
    wait_until(lambda: hears(b, "n1", "n3") is False, timeout=3, what="n1 deaf to n3")
    rules = b.exec("n1", ["iptables", "-S", "SPLITBRAIN-LOSS"]).stdout
    assert "statistic" in rules and "1.0000" in rules
    b.set_loss("n3", "n1", 0.0)
    wait_until(lambda: hears(b, "n1", "n3"), timeout=10, what="n1 hears n3")


def test_rate_limit_installs_and_removes_a_class(b):
    b.set_rate("n1", "n2", 64)
    out = b.exec("n1", ["tc", "class", "show", "dev", "eth0"]).stdout
    assert "64Kbit" in out
    b.set_rate("n1", "n2", None)
    assert "64Kbit" not in b.exec("n1", ["tc", "class", "show", "dev", "eth0"]).stdout


def test_kill_pause_restart(b):
    pid = http_json(b.addresses("n2").client)["pid"]
    b.kill("n2")
    assert http_json(b.addresses("n2").client, timeout=0.3) is None
    b.start("n2")
    assert wait_until(lambda: http_json(b.addresses("n2").client), what="n2 back")["pid"] != pid
    b.pause("n2")
    assert http_json(b.addresses("n2").client, timeout=0.3) is None
    b.resume("n2")
    wait_until(lambda: http_json(b.addresses("n2").client), what="n2 resumed")


def test_clock_control_reaches_processes_in_the_namespace(tmp_path):
    import time
    rid = run_id()
    b = NetnsBackend(tmp_path / rid, rid, clock_control=True)
    try:
        b.setup(standin_specs(1))
        assert "ClockControl" in capabilities(b)

        def skew():
            return int(b.exec("n1", ["date", "+%s"]).stdout.strip()) - time.time()

        b.set_clock("n1", -7200.0)
        assert -7210 < skew() < -7190
        b.set_clock("n1", 0.0)
        assert abs(skew()) < 10
    finally:
        b.teardown()
