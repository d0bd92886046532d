"""Three real Region stores on loopback: splits under writes, routing, and a kill -9 during splits."""
from __future__ import annotations

import signal
import threading
import time

import pytest

import checker
from kv.conftest import make_cluster  # noqa: F401 - the single-group node's fixture
from kv.harness import http
from reference_kv.client import Client, DefiniteError, IndeterminateError

from .registers import register_workers

pytestmark = pytest.mark.integration

SPLIT = "24KiB"
VALUE = "v" * 150


def _regions(cluster, nid=None):
    for i in ([nid] if nid else list(cluster.procs)):
        try:
            code, body = http(cluster.client[i], "GET", "/regions", timeout=2)
        except OSError:
            continue
        if code == 200:
            return body
    return []


def _fill(addresses, prefix: str, n: int, deadline: float) -> list[str]:
    """Sequential puts of distinct keys; -> the keys acknowledged."""
    acked = []
    with Client(addresses, timeout=5) as c:
        for i in range(n):
            if time.monotonic() > deadline:
                break
            key = f"{prefix}{i:05d}"
            try:
                c.put(key, VALUE)
                acked.append(key)
            except (DefiniteError, IndeterminateError):
                pass
    return acked


def test_writes_split_into_many_regions_and_every_acknowledged_write_reads_back(region_cluster):
    c = region_cluster(3, "--region-split-size", SPLIT)
    acked = _fill(c.addresses(), "user", 1500, time.monotonic() + 60)
    assert len(acked) >= 1450  # a write may time out on a loaded machine; every acknowledged one must read back
    regions = c.wait(lambda: (r := _regions(c)) and len(r) >= 8 and r, timeout=10, what=">= 8 regions")
    # The directory partitions the key space: sorted, adjacent, first from "" and last to "".
    regions.sort(key=lambda r: r["start"])
    assert regions[0]["start"] == "" and regions[-1]["end"] == ""
    assert all(a["end"] == b["start"] for a, b in zip(regions, regions[1:]))
    assert all(r["epoch"]["version"] >= 2 for r in regions)
    with Client(c.addresses(), timeout=5) as cl:
        assert [k for k in acked if cl.get(k) != VALUE] == []
    # Every store hosts every Region (same peers) and reports the count.
    st = c.status(2)
    assert st["regions"] >= 8 and st["local_regions"] >= 8
    # Leaders spread: no node leads two more Regions than another once balancing settles.
    def balanced():
        leading = [c.status(i)["leading"] for i in c.ids]
        return sum(leading) == st["local_regions"] and max(leading) - min(leading) <= 1
    c.wait(balanced, timeout=30, what="Region leaders spread over the nodes")


def test_requests_with_a_stale_epoch_get_the_current_regions(region_cluster):
    c = region_cluster(3, "--region-split-size", SPLIT)
    _fill(c.addresses(), "k", 600, time.monotonic() + 40)
    regions = c.wait(lambda: (r := _regions(c)) and len(r) >= 2 and r, timeout=10, what="a split")
    first = min(regions, key=lambda r: r["start"])
    key = "k00000"
    leader = first["leader_address"] or c.client[1]
    code, body = http(leader, "PUT", f"/kv/{key}?region_id={first['id']}&epoch=1.1",
                      {"value": 1, "request_id": "t:1"})
    assert code == 409 and body["error"] == "epoch_not_match"
    assert {r["id"] for r in body["regions"]} >= {r["id"] for r in regions}
    # A key outside the named Region is refused the same way, and nothing was written.
    last = max(regions, key=lambda r: r["start"])
    ep = f"{last['epoch']['conf_ver']}.{last['epoch']['version']}"
    code, body = http(leader, "PUT", f"/kv/{key}?region_id={last['id']}&epoch={ep}", {"value": 2, "request_id": "t:2"})
    assert code == 409
    with Client(c.addresses()) as cl:
        # Every read mode routes by Region too; the route cache knows the split layout.
        assert [cl.get(key, read=m) for m in ("readindex", "lease", "log", "follower")] == [VALUE] * 4
        assert len(cl.regions()) >= 2
    code, body = http(leader, "GET", f"/kv/{key}?region_id=x")
    assert code == 400
    code, body = http(leader, "GET", f"/kv/{key}?region_id=0")
    assert code == 400 and "meta" in body["error"]


def _metric(cluster, nid, name) -> float:
    code, text = http(cluster.client[nid], "GET", "/metrics")
    return float(next(line.split()[-1] for line in text.splitlines() if line.startswith(f"reference_kv_{name} ")))


def test_kill_minus_nine_during_splits_keeps_the_history_linearizable(region_cluster, tmp_path):
    # Logs compacted every 100 entries: the restarted node must catch up from what compaction kept.
    c = region_cluster(3, "--region-split-size", SPLIT, "--snapshot-every", "100")
    addresses = [c.client[i] for i in c.ids]
    keys = [f"reg{i}" for i in range(0, 1000, 125)]  # spread: they end up in different Regions
    history, stop = [], [time.monotonic() + 14]

    def filler():
        # Keys between the register keys make their Regions grow and split.
        _fill(addresses, "reg", 900, stop[0])

    threads = register_workers(addresses, keys, stop, history) + [threading.Thread(target=filler)]
    for t in threads:
        t.start()
    time.sleep(4)
    victim = c.wait_leader()  # the meta group's leader, the worst one to lose
    c.kill(victim, signal.SIGKILL)
    time.sleep(3)
    c.start(victim)
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    regions = _regions(c)
    assert len(regions) >= 4, regions
    oks = sum(1 for e in history if e["type"] == "ok")
    assert oks > 100, f"only {oks} operations succeeded; logs:\n{c.logs()}"
    result = checker.check(history, model="cas-register", timeout=60)
    assert result.valid is True, (result.valid, c.logs())
    assert sum(_metric(c, i, "log_compactions_total") for i in c.ids) > 0
    # The restarted node caught up: it hosts every Region of the directory.
    c.wait(lambda: c.status(victim) and c.status(victim)["local_regions"] == len(_regions(c)), timeout=10,
           what="the restarted node to host every Region")


def test_the_client_still_talks_to_a_single_group_node(make_cluster):
    c = make_cluster(3)
    with Client(c.addresses()) as cl:
        cl.put("a", 1)
        assert cl.cas("a", 1, 2) and cl.get("a") == 2
        assert cl.regions() == []  # /regions is 404 there: no route cache, no Region parameters
