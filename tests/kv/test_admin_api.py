"""Integration: the admin API on its own port with its token, and /metrics as Prometheus reads it."""
from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families

from reference_kv import admintoken
from reference_kv.__main__ import build_parser
from reference_kv.launch import free_port

from .harness import http

pytestmark = pytest.mark.integration


def test_the_admin_api_is_not_on_the_client_port(make_cluster):
    c = make_cluster(1, "--storage", "memory")
    nid = c.wait_leader()
    for method, path, body in (("POST", "/admin/transfer-leader", {"to": 2}), ("DELETE", "/admin/members/1", None),
                               ("POST", "/admin/members", {"id": 9, "peer_address": "127.0.0.1:1"})):
        code, reply = http(c.client[nid], method, path, body, headers=admintoken.headers(c.token))
        assert code == 404 and "own port" in reply["error"], (path, reply)
    assert c.status(nid)["voters"] == [1]  # nothing was removed or added


def test_admin_requests_need_the_token(make_cluster):
    c = make_cluster(1, "--storage", "memory")
    nid = c.wait_leader()
    add = {"id": 9, "peer_address": "127.0.0.1:1", "address": "127.0.0.1:2"}
    for headers in ({}, {"Authorization": "Bearer " + "x" * 43}, {"Authorization": f"Basic {c.token}"},
                    {"Authorization": f"Bearer {c.token[:-1]}"}):
        code, reply = http(c.admin_address[nid], "POST", "/admin/members", add, headers=headers)
        assert code == 401 and "token" in reply["error"], (headers, reply)
    assert c.status(nid)["learners"] == []
    code, reply = c.admin_at(nid, "POST", "/admin/members", add)
    assert code == 200, reply
    c.wait(lambda: c.status(nid)["learners"] == [9], what="learner 9 added with the token")


def test_a_bare_admin_port_is_bound_to_loopback_only(make_cluster):
    assert build_parser().parse_args(["--id", "1", "--listen", "0.0.0.0:1", "--peer-listen", "0.0.0.0:2",
                                      "--data-dir", "d", "--admin-listen", "8123"]).admin_listen == "127.0.0.1:8123"
    c = make_cluster(1, "--storage", "memory", start=False)
    port = free_port()
    c.admin_address[1] = str(port)  # as an operator writes it: no host
    c.start_all()
    socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with pytest.raises(ConnectionRefusedError):  # another loopback address: a 0.0.0.0 bind would answer
        socket.create_connection(("127.0.0.2", port), timeout=2)


def _node(tmp_path, *flags, env=None) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "reference_kv", "--id", "1", "--listen", f"127.0.0.1:{free_port()}",
            "--peer-listen", f"127.0.0.1:{free_port()}", "--peers", "1=127.0.0.1:1", "--data-dir",
            str(tmp_path / "d"), "--peer-plaintext", "--storage", "memory", *flags]
    env = {k: v for k, v in __import__("os").environ.items() if k != admintoken.TOKEN_ENV} | (env or {})
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)


@pytest.mark.parametrize("flags, env, complaint", [
    (("--admin-listen", "8123"), None, "needs the admin token"),
    (("--admin-listen", "8123", "--admin-token-file", "/nonexistent/token"), None, "cannot read the admin token"),
    (("--admin-listen", "8123"), {admintoken.TOKEN_ENV: "short"}, "at least 16"),
    (("--admin-token-file", "TOKEN"), None, "without --admin-listen"),
])
def test_a_node_refuses_an_admin_api_it_cannot_protect(tmp_path, flags, env, complaint):
    token = tmp_path / "token"
    admintoken.write_file(token)
    r = _node(tmp_path, *[str(token) if f == "TOKEN" else f for f in flags], env=env)
    assert r.returncode == 2 and complaint in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_admin_listen_must_differ_from_listen(tmp_path):
    token = tmp_path / "token"
    admintoken.write_file(token)
    port = free_port()
    argv = [sys.executable, "-m", "reference_kv", "--id", "1", "--listen", f"127.0.0.1:{port}", "--peer-listen",
            f"127.0.0.1:{free_port()}", "--peers", "1=127.0.0.1:1", "--data-dir", str(tmp_path / "d"),
            "--peer-plaintext", "--admin-listen", f"127.0.0.1:{port}", "--admin-token-file", str(token)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "must differ" in r.stderr, r.stderr


def test_metrics_parse_as_prometheus_exposition(make_cluster):
    c = make_cluster(1, "--storage", "memory")
    nid = c.wait_leader()
    for i in range(3):
        assert http(c.client[nid], "PUT", f"/kv/m{i}", {"value": i})[0] == 200
    assert http(c.client[nid], "GET", "/kv/m0?read=lease")[0] == 200
    code, text = http(c.client[nid], "GET", "/metrics")
    assert code == 200
    families = {f.name: f for f in text_string_to_metric_families(text)}
    value = {s.name: s.value for f in families.values() for s in f.samples if not s.labels}
    # the documented names, with their types
    assert families["reference_kv_term"].type == "gauge" and value["reference_kv_term"] >= 1
    assert value["reference_kv_is_leader"] == 1
    assert families["reference_kv_proposals"].type == "counter" and value["reference_kv_proposals_total"] >= 3
    reads = {s.labels["mode"]: s.value for s in families["reference_kv_reads"].samples}
    assert reads["lease"] == 1
    fsync = families["reference_kv_fsync_seconds"]
    assert fsync.type == "histogram"
    buckets = [s for s in fsync.samples if s.name.endswith("_bucket")]
    assert buckets[-1].labels["le"] == "+Inf"
    assert [s.value for s in buckets] == sorted(s.value for s in buckets)  # cumulative
    assert value["reference_kv_fsync_seconds_count"] == buckets[-1].value
    assert "process_cpu_seconds" in families  # the process's own registry
