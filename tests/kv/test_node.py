"""Integration: real reference-KV nodes (python -m reference_kv) on loopback, Pebble storage."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import pytest

from reference_kv.client import Client, DefiniteError, IndeterminateError

from .harness import free_port, http

pytestmark = pytest.mark.integration

MODES = ("readindex", "lease", "log", "follower", "local-unsafe")


def metric(address: str, name: str) -> float:
    _, text = http(address, "GET", "/metrics")
    m = re.search(rf"^reference_kv_{name} (\S+)$", text, re.M)
    assert m, f"metric {name} missing"
    return float(m.group(1))


@pytest.mark.parametrize("node_mode", ["readindex", "lease"])
def test_operations_in_every_read_mode(make_cluster, node_mode):
    c = make_cluster(3, "--read-mode", node_mode)
    with Client(c.addresses(), timeout=5) as cl:
        cl.put("a", {"x": [1, 2]})
        assert cl.cas("a", {"x": [1, 2]}, 7) is True
        assert cl.cas("a", {"x": [1, 2]}, 8) is False
        cl.append("s", "ab")
        cl.append("s", "cd")
        cl.put("gone", 1)
        cl.delete("gone")
        for mode in MODES:
            if mode == "local-unsafe":  # UNSAFE: only a node started with it answers
                with pytest.raises(DefiniteError, match="only by a node started with --read-mode local-unsafe"):
                    cl.get("a", read=mode)
                continue
            assert cl.get("a", read=mode) == 7, mode
            assert cl.get("s", read=mode) == "abcd", mode
            assert cl.get("gone", read=mode) is None, mode
            assert cl.get("never", read=mode) is None, mode
        # a follower serves follower reads itself
        leader = c.wait_leader()
        follower = next(i for i in c.ids if i != leader)
        assert Client([c.client[follower]], timeout=3).get("a", read="follower") == 7
        # and redirects writes to the leader with a hint
        code, body = http(c.client[follower], "PUT", "/kv/z", {"value": 1, "request_id": "x:1"})
        assert code == 503 and body["leader"] == leader and body["leader_address"] == c.client[leader]


def test_kill_leader_loses_no_acknowledged_write(make_cluster):
    c = make_cluster(3)
    cl = Client(c.addresses(), timeout=8)
    for i in range(60):
        cl.put(f"k{i}", i)
    old = c.wait_leader()
    t0 = time.monotonic()
    c.kill(old)
    new = c.wait_leader(exclude=(old,))
    elected = time.monotonic() - t0
    assert new != old
    assert elected < 3.0, f"new leader took {elected:.2f}s"
    for i in range(60):
        assert cl.get(f"k{i}") == i
    cl.put("after", True)
    assert cl.get("after", read="log") is True
    c.start(old)  # comes back as a follower and catches up
    c.wait(lambda: (c.status(old) or {}).get("applied", 0) >= c.status(new)["applied"], what="old leader catch-up")


def test_restart_keeps_data_and_snapshots(make_cluster):
    c = make_cluster(3, "--snapshot-every", "25")
    cl = Client(c.addresses(), timeout=5)
    for i in range(80):
        cl.append("log", f"{i},")
    expected = "".join(f"{i}," for i in range(80))
    c.wait(lambda: all((c.status(i) or {}).get("snapshot_index", 0) >= 50 for i in c.ids), what="snapshots")
    for i in list(c.procs):
        c.kill(i)  # SIGKILL: only what was synced survives
    for i in c.ids:
        c.start(i)
    c.wait_leader()
    assert Client(c.addresses(), timeout=5).get("log") == expected
    st = c.wait(lambda: c.status(1), what="node 1's status")  # a 0.5 s probe may miss under load
    assert st["snapshot_index"] >= 50 and st["log_size"] < 80


def test_far_behind_follower_catches_up_by_snapshot(make_cluster):
    c = make_cluster(3, "--snapshot-every", "20", "--read-mode", "local-unsafe")  # to read one replica's state
    leader = c.wait_leader()
    lagging = next(i for i in c.ids if i != leader)
    c.kill(lagging)
    cl = Client(c.addresses(), timeout=5)
    for i in range(150):
        cl.put(f"k{i % 7}", i)
    c.start(lagging)
    target = c.status(leader)["applied"]
    c.wait(lambda: (c.status(lagging) or {}).get("applied", 0) >= target, timeout=15, what="snapshot catch-up")
    assert metric(c.client[lagging], "snapshots_installed_total") >= 1
    local = Client([c.client[lagging]], timeout=3)
    assert [local.get(f"k{j}", read="local-unsafe") for j in range(7)] == [cl.get(f"k{j}") for j in range(7)]


def test_membership_add_promote_remove(make_cluster):
    c = make_cluster(3)
    cl = Client(c.addresses(), timeout=5)
    cl.put("before", 1)
    new = c.add_node()
    code, body = c.admin("POST", "/admin/members", {"id": new, "peer_address": c.peer[new], "address": c.client[new]})
    assert code == 200, body
    c.wait(lambda: (c.status(new) or {}).get("role") == "learner", what="learner")
    code, body = c.admin("POST", f"/admin/members/{new}/promote")
    assert code == 200, body
    c.wait(lambda: (c.status(new) or {}).get("role") == "follower", what="promotion")
    for i in range(20):
        cl.put("during", i)
    c.wait(lambda: Client([c.client[new]], timeout=2).get("during", read="follower") == 19, what="new node applies")
    code, body = c.admin("DELETE", f"/admin/members/{new}")
    assert code == 200, body
    cl.put("after", 2)
    assert cl.get("after") == 2 and cl.get("before") == 1


def test_transfer_leader(make_cluster):
    c = make_cluster(3)
    leader = c.wait_leader()
    to = next(i for i in c.ids if i != leader)
    code, body = c.admin_at(leader, "POST", "/admin/transfer-leader", {"to": to}, timeout=5)
    assert code == 200, body
    assert c.wait_leader() == to
    p = c.procs.pop(leader)
    p.send_signal(signal.SIGTERM)
    assert p.wait(10) == 0  # SIGTERM is a clean stop


def test_retried_request_id_is_applied_once(make_cluster):
    c = make_cluster(3)
    leader = c.client[c.wait_leader()]
    body = {"value": "x", "request_id": "retry:1"}
    assert http(leader, "POST", "/kv/r/append", body) == (200, {"ok": True})
    assert http(leader, "POST", "/kv/r/append", body) == (200, {"ok": True})
    assert http(leader, "GET", "/kv/r") == (200, {"value": "x"})
    # a CAS retried with its id answers its original outcome, not a fresh comparison
    cas = {"expected": "x", "new": "y", "request_id": "retry:2"}
    assert http(leader, "POST", "/kv/r/cas", cas) == (200, {"ok": True})
    assert http(leader, "POST", "/kv/r/cas", cas) == (200, {"ok": True})
    assert http(leader, "GET", "/kv/r") == (200, {"value": "y"})


def test_bad_requests_get_4xx_and_node_keeps_serving(make_cluster):
    c = make_cluster(3, "--max-value-bytes", "1000")
    leader = c.client[c.wait_leader()]
    assert http(leader, "PUT", "/kv/a", raw=b"{not json")[0] == 400
    assert http(leader, "PUT", "/kv/a", raw=b"[1]")[0] == 400
    assert http(leader, "PUT", "/kv/a", {"value": "v" * 5000})[0] == 413
    assert http(leader, "PUT", "/kv/a", raw=b"x" * 200_000)[0] == 413
    assert http(leader, "GET", "/kv/a?read=bogus")[0] == 400
    assert http(leader, "POST", "/kv/a/append", {"value": 3})[0] == 400
    assert http(leader, "PUT", "/kv/a", {"value": 1, "request_id": "nocolon"})[0] == 400
    assert http(leader, "GET", "/nope")[0] == 404
    with Client([leader], timeout=3) as cl:
        with pytest.raises(DefiniteError):
            cl.put("big", "v" * 5000)
        cl.put("a", 1)
        assert cl.get("a") == 1


def test_client_errors_are_classified(make_cluster):
    dead = f"127.0.0.1:{free_port()}"
    with pytest.raises(DefiniteError):
        Client([dead], timeout=0.5).put("k", 1)
    with pytest.raises(DefiniteError):  # a read never takes effect
        Client([dead], timeout=0.5).get("k")
    c = make_cluster(3)
    leader = c.wait_leader()
    cl = Client(c.addresses(), timeout=1.5, attempt_timeout=0.5)
    cl.put("k", 1)
    for i in c.ids:
        if i != leader:
            c.procs[i].send_signal(signal.SIGSTOP)
    try:
        with pytest.raises(IndeterminateError):  # sent to the leader, never committed: unknown
            cl.put("k", 2)
    finally:
        for i in c.ids:
            if i != leader:
                c.procs[i].send_signal(signal.SIGCONT)


def test_bad_command_line_is_one_line(tmp_path):
    def run(*args):
        p = subprocess.run([sys.executable, "-m", "reference_kv", *args], capture_output=True, text=True, timeout=30)
        return p.returncode, p.stderr.strip()

    base = ["--id", "1", "--listen", f"127.0.0.1:{free_port()}", "--peer-listen", f"127.0.0.1:{free_port()}",
            "--peer-plaintext", "--data-dir", str(tmp_path / "d")]
    code, err = run(*base[:-3], *base[-2:], "--peers", "1=127.0.0.1:1")
    assert code == 2 and len(err.splitlines()) == 1 and "--peer-tls" in err and "--peer-plaintext" in err
    code, err = run(*base, "--peers", "1=127.0.0.1:99999")
    assert code == 2 and len(err.splitlines()) == 1 and "99999" in err
    code, err = run(*base, "--peers", "1=127.0.0.1:1", "--bogus")
    assert code == 2 and len(err.splitlines()) == 1
    code, err = run(*base, "--peers", "2=127.0.0.1:1")
    assert code == 2 and len(err.splitlines()) == 1
    corrupt = tmp_path / "corrupt"
    (corrupt / "db").mkdir(parents=True)
    (corrupt / "db" / "CURRENT").write_text("garbage\n")
    base[-1] = str(corrupt)
    code, err = run(*base, "--peers", f"1=127.0.0.1:{free_port()}")
    assert code == 1 and len(err.splitlines()) == 1 and "Traceback" not in err, err


def test_an_unsafe_node_answers_local_reads_and_counts_each_mode_as_served(make_cluster):
    c = make_cluster(3, "--read-mode", "local-unsafe")
    with Client(c.addresses(), timeout=5) as cl:
        cl.put("k", 1)
        c.wait(lambda: all(Client([a], timeout=1).get("k", read="local-unsafe") == 1 for a in c.addresses()),
               what="every replica applied")
        leader = c.client[c.wait_leader()]
        before = {m: metric_or_zero(leader, m) for m in ("lease", "readindex")}
        assert Client([leader], timeout=3).get("k", read="lease") == 1
        assert Client([leader], timeout=3).get("k", read="readindex") == 1
        assert metric_or_zero(leader, "lease") == before["lease"] + 1
        assert metric_or_zero(leader, "readindex") == before["readindex"] + 1


def metric_or_zero(address: str, mode: str) -> float:
    _, text = http(address, "GET", "/metrics")
    m = re.search(rf'^reference_kv_reads_total{{mode="{mode}"}} (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0.0
