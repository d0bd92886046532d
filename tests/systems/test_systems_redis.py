"""Redis: the RESP client against real servers, and Redis+Sentinel found not linearizable.

The finding (Jepsen, 2013): replication is asynchronous, so a primary cut off from
its replicas and sentinels keeps acknowledging writes while the majority side
promotes a replica; clients still reaching the old primary write there, others read
the new one (stale), and when the partition heals the old primary is demoted and
its writes are gone (lost). The suite must find it by itself.
"""
from __future__ import annotations

import socket
import subprocess
import time

import pytest
from system_parts import require

from workloads.clients import make_client
from workloads.errors import DefiniteError

from reference_kv.launch import free_ports

from .helpers import EXAMPLES, run_splitbrain, summary_of

pytestmark = pytest.mark.integration
require("redis")


def _wait_port(port: int, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"redis on {port} did not start")


@pytest.fixture
def primary_and_replica(tmp_path):
    ports = free_ports(2)
    procs = []
    try:
        for i, port in enumerate(ports):
            argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
                    "--dir", str(tmp_path)]
            if i:
                argv += ["--replicaof", "127.0.0.1", str(ports[0])]
            procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL))
            _wait_port(port)
        yield [f"127.0.0.1:{p}" for p in ports]
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_register_and_kv_operations_on_a_real_redis(primary_and_replica):
    client = make_client("redis", primary_and_replica[:1], timeout=2.0)
    try:
        assert client.read("r") is None
        assert client.cas("r", None, 1) is True
        assert client.cas("r", None, 2) is False
        assert client.cas("r", 5, 2) is False
        assert client.cas("r", 1, 2) is True and client.read("r") == 2
        client.write("r", {"a": [1]})
        assert client.read("r") == {"a": [1]}
        client.append("s", "ab/")
        client.append("s", "c")
        assert client.get("s") == "ab/c"
        with pytest.raises(DefiniteError):  # a script refusing before its write
            client.append("r", "x")
        client.delete("r")
        assert client.read("r") is None
    finally:
        client.close()


def test_a_replica_refusal_is_definite_and_the_client_moves_to_the_primary(primary_and_replica):
    primary, replica = primary_and_replica
    only_replica = make_client("redis", [replica], timeout=2.0)
    with pytest.raises(DefiniteError) as e:
        only_replica.write("k", 1)
    assert e.value.kind == "readonly"
    both = make_client("redis", [replica, primary], timeout=2.0)
    both.write("k", 2)
    assert both.node == primary
    dead = make_client("redis", [f"127.0.0.1:{free_ports(1)[0]}"], timeout=0.5)
    with pytest.raises(DefiniteError) as e:
        dead.read("k")
    assert e.value.kind == "refused"
    for c in (only_replica, both, dead):
        c.close()


def test_single_redis_is_linearizable(tmp_path):
    r, run = run_splitbrain(["--system", str(EXAMPLES / "redis.toml"), "--nemesis", "none", "--time", "4",
                             "--concurrency", "6"], tmp_path)
    s = summary_of(run)
    assert r.returncode == 0 and s["valid"] is True and s["ops"]["ok"] > 100


def _netns_missing() -> str | None:
    from nemesis.backends.netns import missing_requirements

    return missing_requirements()


@pytest.mark.root
@pytest.mark.e2e
@pytest.mark.skipif(_netns_missing() is not None, reason=f"netns backend: {_netns_missing()}")
def test_sentinel_failover_under_a_partition_loses_writes_and_the_suite_finds_it(tmp_path):
    r, run = run_splitbrain(["--system", str(EXAMPLES / "redis-sentinel.toml"), "--backend", "netns",
                             "--nemesis", "partition-leader", "--time", "30", "--nemesis-interval", "8",
                             "--fault-duration", "10", "--quiet", "3", "--seed", "0"], tmp_path, timeout=110)
    s = summary_of(run)
    history = (run / "history.jsonl").read_text()
    assert '"start-partition"' in history and '"heal"' in history
    assert r.returncode == 1, r.stdout
    lin = s["linearizable"]
    assert s["valid"] is False and lin["valid"] is False
    assert lin["failing"], lin
    # the checker names the operation it cannot place: a read of a lost or stale value, or a cas on one
    first = lin["failing"][0]
    assert first["cannot_place"] and first["cannot_place"].split("(")[0] in ("read", "cas", "write")
    assert "violation: " in r.stdout
