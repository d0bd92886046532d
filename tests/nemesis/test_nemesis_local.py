"""The local backend against the stand-in node: every primitive has its observable effect."""
from __future__ import annotations

import os
import time

import pytest

from nemesis.backends.local import LocalBackend
from nemesis.types import capabilities

from nemesis_helpers import hears, http_json, run_id, standin_specs, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(params=["stall", "reset"])
def cluster(request, tmp_path):
    rid = run_id()
    b = LocalBackend(tmp_path / rid, rid, cut_mode=request.param)
    try:
        b.setup(standin_specs(3))
        for n in b.nodes():
            b.start(n)
        for n in b.nodes():
            for p in b.nodes():
                if p != n:
                    wait_until(lambda: hears(b, n, p), what=f"{n} hears {p}")
        yield b
    finally:
        b.teardown()


def test_addresses_are_distinct_loopback_ips_and_proxied(cluster):
    a = {n: cluster.addresses(n) for n in cluster.nodes()}
    assert len({x.host for x in a.values()}) == 3
    assert all(x.host.startswith("127.") for x in a.values())
    n1 = a["n1"]
    assert n1.dial["n1"] == n1.peer
    assert n1.dial["n2"] != a["n2"].peer and n1.dial["n2"].host == a["n2"].host
    assert n1.cluster["n2"] == a["n2"].peer
    assert set(capabilities(cluster)) >= {"Killable", "Pausable", "Partitionable", "Lossy", "Delayable"}


def test_one_way_cut_and_restore(cluster):
    cluster.cut("n1", "n2")
    wait_until(lambda: hears(cluster, "n2", "n1") is False, timeout=3, what="n2 stops hearing n1")
    # the reverse direction is untouched
    assert hears(cluster, "n1", "n2")
    time.sleep(0.5)
    assert hears(cluster, "n2", "n1") is False
    cluster.restore("n1", "n2")
    wait_until(lambda: hears(cluster, "n2", "n1"), timeout=5, what="n2 hears n1 again")


def test_restore_all_heals_every_link(cluster):
    for s in cluster.nodes():
        for d in cluster.nodes():
            if s != d:
                cluster.cut(s, d)
    wait_until(lambda: not any(hears(cluster, n, p) for n in cluster.nodes() for p in cluster.nodes() if p != n),
               timeout=3, what="everyone deaf")
    cluster.restore_all()
    for n in cluster.nodes():
        for p in cluster.nodes():
            if p != n:
                wait_until(lambda: hears(cluster, n, p), timeout=5, what=f"{n} hears {p}")


def test_delay_slows_a_link(cluster):
    cluster.set_delay("n3", "n1", 0.6)
    # heartbeats still arrive, but every one of them 0.6 s late
    wait_until(lambda: hears(cluster, "n1", "n3", fresh=0.3) is False, timeout=3, what="stale n3 at n1")
    wait_until(lambda: hears(cluster, "n1", "n3", fresh=1.0), timeout=3, what="late n3 at n1")
    cluster.reset_links()
    wait_until(lambda: hears(cluster, "n1", "n3", fresh=0.1), timeout=5, what="prompt n3 at n1")


def test_loss_delays_chunks(cluster):
    cluster.set_loss("n2", "n3", 1.0)
    wait_until(lambda: hears(cluster, "n3", "n2", fresh=0.3) is False, timeout=5, what="n2 lossy to n3")
    stats = cluster.link_stats()
    assert stats["n2->n3"]["loss"] == 1.0
    cluster.set_loss("n2", "n3", 0.0)
    # a 100%-loss link doubles its penalty per chunk; reset drops the queued backlog's connection
    cluster.cut("n2", "n3")
    cluster.restore("n2", "n3")
    with pytest.raises(ValueError):
        cluster.set_loss("n2", "n3", 1.5)


def test_kill_and_restart(cluster):
    pid = http_json(cluster.addresses("n2").client)["pid"]
    cluster.kill("n2")
    assert not cluster.is_running("n2")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert http_json(cluster.addresses("n2").client, timeout=0.3) is None
    cluster.start("n2")
    st = wait_until(lambda: http_json(cluster.addresses("n2").client), what="n2 back")
    assert st["pid"] != pid
    wait_until(lambda: hears(cluster, "n2", "n1"), what="n2 rejoins")


def test_pause_and_resume(cluster):
    cluster.pause("n3")
    assert http_json(cluster.addresses("n3").client, timeout=0.5) is None
    wait_until(lambda: hears(cluster, "n1", "n3") is False, timeout=3, what="n1 stops hearing n3")
    cluster.resume("n3")
    wait_until(lambda: http_json(cluster.addresses("n3").client), what="n3 answers")
    wait_until(lambda: hears(cluster, "n1", "n3"), what="n1 hears n3")


def test_stop_is_graceful_and_exec_runs_in_node_dir(cluster):
    cluster.stop("n1")
    assert not cluster.is_running("n1")
    assert cluster.procs["n1"].returncode == 0
    r = cluster.exec("n1", ["sh", "-c", "pwd; echo $SPLITBRAIN_NEMESIS_RUN"])
    assert r.returncode == 0
    assert r.stdout.split() == [str(cluster.node_dir("n1")), cluster.run_id]


def test_collect_logs(cluster, tmp_path):
    out = cluster.collect_logs(str(tmp_path / "logs"))
    assert len(out) == 3 and all(os.path.exists(p) for p in out)


def test_a_work_dir_beyond_the_unix_socket_limit(tmp_path):
    # results/<run>/nodes under a deep tmp_path once made the proxy's control socket path too long
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    rid = run_id()
    b = LocalBackend(deep / rid, rid)
    assert len(str(deep / rid / "proxy.sock")) > 108
    try:
        b.setup(standin_specs(2))
        sock = b.sockets.path
        assert sock and os.path.isdir(sock) and oct(os.stat(sock).st_mode & 0o777) == "0o700"
        for n in b.nodes():
            b.start(n)
        wait_until(lambda: hears(b, "n1", "n2"), what="n1 hears n2 through the proxy")
        b.cut("n2", "n1")
        wait_until(lambda: hears(b, "n1", "n2") is False, timeout=3, what="n1 deaf to n2")
    finally:
        b.teardown()
    assert not os.path.exists(sock), "the socket dir outlived teardown"


def test_wipe_empties_a_stopped_nodes_data_dir_and_nothing_else(cluster):
    from nemesis.backends.host import BackendError
    from nemesis.types import Wipeable

    assert isinstance(cluster, Wipeable)
    data = cluster._data_dir(cluster.specs["n2"])
    (data / "sub").mkdir(exist_ok=True)
    (data / "sub" / "f").write_text("x")
    (data / "g").write_text("y")
    with pytest.raises(BackendError, match="kill the node first"):
        cluster.wipe("n2")
    assert (data / "g").exists()
    cluster.kill("n2")
    cluster.wipe("n2")
    assert data.is_dir() and not list(data.iterdir())
    assert cluster.node_dir("n2").is_dir() and (cluster._data_dir(cluster.specs["n1"])).is_dir()
    cluster.start("n2")
    wait_until(lambda: http_json(cluster.addresses("n2").client), what="n2 back")
