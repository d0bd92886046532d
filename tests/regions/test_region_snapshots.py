"""Per-Region snapshots on three real stores: logs compact while a node is down, and the node
catches up by snapshot and serves the same data; with its data dir wiped it refuses to start, and
comes back by the membership procedure (remove, --join, learner, promote)."""
from __future__ import annotations

import shutil
import signal
import time

import pytest

from kv.harness import http
from reference_kv.client import Client

from .test_regions_cluster import SPLIT, VALUE, _fill, _metric, _regions

pytestmark = pytest.mark.integration


def _local(cluster, nid: int, key: str):
    code, body = http(cluster.client[nid], "GET", f"/kv/{key}?read=local-unsafe", timeout=2)
    return body.get("value") if code == 200 else ("error", code)


def _caught_up(cluster, nid: int, acked: list[str], deleted: set[str]):
    """The node hosts every Region of the directory and holds exactly the acknowledged data."""
    st = cluster.status(nid)
    if not st or st["local_regions"] != len(_regions(cluster, next(i for i in cluster.ids if i != nid))):
        return False
    return all(_local(cluster, nid, k) == (None if k in deleted else VALUE) for k in acked)


def test_a_node_behind_compaction_and_a_wiped_node_catch_up_by_snapshot(region_cluster):
    c = region_cluster(3, "--region-split-size", SPLIT, "--snapshot-every", "50",
                       "--read-mode", "local-unsafe")  # to read one replica's state
    addresses = c.addresses()
    acked = _fill(addresses, "s", 200, time.monotonic() + 30)
    victim = 3
    c.kill(victim, signal.SIGKILL)
    live = [c.client[i] for i in c.ids if i != victim]
    # Enough while it is down to compact every busy Region past it, and to split some more.
    acked += _fill(live, "t", 400, time.monotonic() + 40)
    deleted = set(acked[::7])
    with Client(live, timeout=5) as cl:
        for k in deleted:
            cl.delete(k)
    assert sum(_metric(c, i, "log_compactions_total") for i in c.ids if i != victim) > 0
    c.start(victim)
    c.wait(lambda: _caught_up(c, victim, acked, deleted), timeout=30, what="the restarted node to catch up")
    assert sum(_metric(c, i, "snapshots_sent_total") for i in c.ids if i != victim) > 0
    assert _metric(c, victim, "snapshots_installed_total") > 0

    # Wiped: it lost every replica's votes and acknowledgements, so it must not come back as itself.
    c.kill(victim, signal.SIGKILL)
    shutil.rmtree(c.root / f"n{victim}")
    c.start(victim)
    assert c.procs[victim].wait(30) == 2
    err = (c.root / f"n{victim}.log").read_text().strip().splitlines()[-1]
    assert "lost its data" in err and "remove" in err, err
    c.procs.pop(victim)
    # The way back: remove it, start it empty with --join, add it as a learner, promote it once caught up.
    code, body = c.admin("DELETE", f"/admin/members/{victim}")
    assert code == 200, body
    c.start(victim, join=True)
    code, body = c.admin("POST", "/admin/members", {"id": victim, "peer_address": c.peer[victim],
                                                     "address": c.client[victim]})
    assert code == 200, body
    c.wait(lambda: c.admin("POST", f"/admin/members/{victim}/promote")[0] == 200, timeout=30,
           what="the rejoined store's promotion (refused until it caught up)")
    c.wait(lambda: _caught_up(c, victim, acked, deleted) and (st := c.status(victim))
           and st["regions_following"] == st["local_regions"] and victim in st["voters"], timeout=60,
           what="the rejoined store to hold every Region as a voter")
    assert _metric(c, victim, "snapshots_installed_total") >= 2
    c.kill(next(i for i in c.ids if i != victim))  # the rejoined store now makes the quorum
    with Client([c.client[i] for i in c.procs], timeout=5) as cl:
        cl.put("after-rejoin", 1)
        assert cl.get("after-rejoin") == 1
        assert [k for k in acked if cl.get(k) != (None if k in deleted else VALUE)] == []
