"""Integration: `splitbrain cluster up|status|down` with daemonized node processes."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from reference_kv.admin import status
from reference_kv.client import Client

from .harness import http

pytestmark = pytest.mark.integration


def sb(*args: str, check: bool = True):
    p = subprocess.run([sys.executable, "-m", "splitbrain", "cluster", *args], capture_output=True, text=True,
                       timeout=60)
    if check:
        assert p.returncode == 0, p.stderr
    return p


@pytest.fixture
def cluster_dir(tmp_path):
    d = tmp_path / "cluster"
    yield d
    sb("down", "--dir", str(d), check=False)
    for pidfile in d.glob("nodes/*/node.pid"):  # in case `down` itself is what broke
        try:
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
        except (ValueError, OSError):
            pass


def test_up_status_down_and_up_restarts_a_killed_node(cluster_dir):
    rows = json.loads(sb("up", "--dir", str(cluster_dir), "--nodes", "3", "--json").stdout)
    assert [r["id"] for r in rows] == [1, 2, 3]
    assert sum(r["role"] == "leader" for r in rows) == 1 and all(r["pid"] for r in rows)
    assert (cluster_dir / "cluster.json").exists() and (cluster_dir / "nodes/1/node.log").exists()
    # Peers talk mutual TLS with the cluster's own CA; the CA key stays out of the nodes' directories.
    cmd = (open(f"/proc/{rows[0]['pid']}/cmdline").read().split("\0"))
    assert "--peer-tls" in cmd and "--peer-plaintext" not in cmd
    assert (cluster_dir / "ca/ca.key").exists() and not list(cluster_dir.glob("nodes/*/tls/ca.key"))

    Client([r["address"] for r in rows], timeout=5).put("k", "v")
    victim = rows[0]
    os.kill(victim["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        rows = json.loads(sb("status", "--dir", str(cluster_dir), "--json").stdout)
        if rows[0]["role"] == "down":
            break
        time.sleep(0.1)
    assert rows[0]["role"] == "down" and rows[0]["pid"] is None

    rows = json.loads(sb("up", "--dir", str(cluster_dir), "--json").stdout)
    assert rows[0]["pid"] and rows[0]["pid"] != victim["pid"] and rows[0]["address"] == victim["address"]
    assert Client([rows[0]["address"]], timeout=5).get("k", read="follower") == "v"  # its data survived

    assert json.loads(sb("down", "--dir", str(cluster_dir), "--json").stdout) == {"stopped": [1, 2, 3]}
    rows = json.loads(sb("status", "--dir", str(cluster_dir), "--json").stdout)
    assert all(r["role"] == "down" for r in rows)


def test_status_without_cluster_is_a_usage_error(tmp_path):
    p = sb("status", "--dir", str(tmp_path / "none"), check=False)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1


def test_a_wiped_node_is_refused_and_rejoins_by_remove_learner_snapshot_promote(cluster_dir):
    rows = json.loads(sb("up", "--dir", str(cluster_dir), "--nodes", "3", "--snapshot-every", "20",
                         "--json").stdout)
    addresses = [r["address"] for r in rows]
    with Client(addresses, timeout=5) as cl:
        for i in range(50):
            cl.put(f"k{i}", i)
    victim = next(r for r in rows if r["role"] != "leader")
    os.kill(victim["pid"], signal.SIGKILL)
    shutil.rmtree(cluster_dir / "nodes" / str(victim["id"]) / "data")
    with Client(addresses, timeout=5) as cl:
        for i in range(50, 80):
            cl.put(f"k{i}", i)

    p = sb("up", "--dir", str(cluster_dir), check=False)  # the same command line as before
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "lost its data" in p.stderr and f"cluster rejoin {victim['id']}" in p.stderr, p.stderr

    p = sb("rejoin", str(victim["id"]), "--dir", str(cluster_dir), check=False)
    assert p.returncode == 0, p.stderr + p.stdout
    assert "promoted" in p.stdout
    me = status(victim["address"])
    assert me["role"] == "follower" and victim["id"] in me["voters"], me
    _, metrics = http(victim["address"], "GET", "/metrics")
    assert re.search(r"^reference_kv_snapshots_installed_total [1-9]", metrics, re.M), "no catch-up by snapshot"
    with Client([victim["address"]], timeout=5) as cl:
        assert [cl.get(f"k{i}", read="follower") for i in range(80)] == list(range(80))
