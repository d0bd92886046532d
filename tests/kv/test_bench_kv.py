"""bench.kv: the target verdicts, and the PySyncObj peer server it compares against."""
from __future__ import annotations

import json
import time

import pytest

from bench.kv.report import render, targets
from bench.kv.stats import percentile


def _results(election, recovery, failed=0, ri_p99=5.0, log_p99=30.0, w=(2000, 1500, 800)):
    load = {"refkv": {"write": {"throughput": w[0]}}, "etcd-10/100": {"write": {"throughput": w[1]}},
            "pysyncobj": {"write": {"throughput": w[2]}}}
    return {"load": load,
            "fixed_rate": {"rate": 500, "readindex": {"p99_ms": ri_p99}, "log": {"p99_ms": log_p99}},
            "failover": {"refkv": {"trials": len(election) + failed, "failed": failed,
                                   "election_ms": election, "recovery_ms": recovery}}}


def _verdicts(r):
    return {name.split(" ")[0] + " " + name.split(" ")[1]: passed for name, _, passed in targets(r)}


@pytest.mark.unit
def test_percentile_is_nearest_rank():
    assert percentile([3, 1, 2], 0.5) == 2
    assert percentile(list(range(1, 21)), 0.99) == 20  # with 20 trials P99 is the worst one
    assert percentile([7], 0.01) == 7


@pytest.mark.unit
def test_all_targets_pass_when_figures_meet_them():
    r = _results([120.0] * 19 + [300.0], [250.0] * 20)
    assert all(passed for _, _, passed in targets(r))
    text, ok = render(r)
    assert ok and "FAIL" not in text and "| target | measured | |" in text


@pytest.mark.unit
@pytest.mark.parametrize("change, broken", [
    (dict(election=[210.0] * 20), "election median"),
    (dict(election=[120.0] * 19 + [450.0]), "election P99"),
    (dict(recovery=[300.0] * 19 + [1200.0]), "client recovery"),
    (dict(ri_p99=11.0), "ReadIndex P99"),
    (dict(w=(1300, 1500, 300)), "write throughput >= 0.9x"),
    (dict(w=(1500, 1400, 800)), "write throughput >= 2.0x"),
])
def test_each_target_fails_on_its_own_figure(change, broken):
    args = dict(election=[120.0] * 20, recovery=[250.0] * 20)
    args.update(change)
    failing = [name for name, _, passed in targets(_results(**args)) if not passed]
    assert len(failing) == 1 and failing[0].startswith(broken), failing


@pytest.mark.unit
def test_failed_trials_and_missing_recoveries_fail():
    r = _results([120.0] * 18, [250.0] * 18, failed=2)
    failing = [name for name, _, passed in targets(r) if not passed]
    assert any(n.startswith("election median") for n in failing)
    assert any(n.startswith("client recovery") for n in failing)


@pytest.fixture
def syncobj_cluster(tmp_path):
    from bench.kv.systems import SyncObjKV
    c = SyncObjKV(tmp_path / "pso")
    try:
        yield c
    finally:
        c.stop_all()


@pytest.mark.integration
def test_pysyncobj_peer_replicates_writes_and_refuses_leader_reads_on_followers(syncobj_cluster):
    from bench.kv.httpc import Conn
    c = syncobj_cluster
    leader = c.start_all(timeout=30)
    conn = Conn(c.client[leader])
    code, body = conn.request(*c.write_request("k1", {"n": 1}, "x:1"))
    assert (code, json.loads(body)) == (200, {"ok": True})
    code, body = conn.request(*c.read_request("k1", "leader"))
    assert (code, json.loads(body)) == (200, {"value": {"n": 1}})
    conn.close()
    follower = next(i for i in c.ids if i != leader)
    fconn = Conn(c.client[follower])
    code, body = fconn.request(*c.read_request("k1", "leader"))
    assert code == 503 and json.loads(body)["error"] == "not_leader"
    deadline = time.monotonic() + 10
    value = None
    while time.monotonic() < deadline:  # replication to the follower is asynchronous
        code, body = fconn.request(*c.read_request("k1", "follower"))
        value = json.loads(body).get("value")
        if value == {"n": 1}:
            break
        time.sleep(0.05)
    fconn.close()
    assert value == {"n": 1}


@pytest.mark.unit
def test_load_follows_only_a_usable_leader_hint():
    from bench.kv.load import _leader_hint
    assert _leader_hint(b'{"error": "not_leader", "leader": 2, "leader_address": "127.0.0.1:4001"}') == "127.0.0.1:4001"
    assert _leader_hint(b'{"error": "not_leader", "leader": null, "leader_address": null}') is None
    assert _leader_hint(b'{"error": "pysyncobj failure 3"}') is None
    assert _leader_hint(b"not json") is None
    assert _leader_hint(b'["a list"]') is None
