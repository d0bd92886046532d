"""The pre-stop leader hand-off and the probes, against a real 3-node cluster found through DNS."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from reference_kv.admin import rank_followers

from .conftest import DOMAIN, http


def admin(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reference_kv.admin", *args],
                          capture_output=True, text=True, timeout=timeout)


def step_down_flags(c, ordinal: int) -> list[str]:
    """The preStop command of the StatefulSet, with the test's nameserver."""
    return ["step-down", "--address", c.address(ordinal), "--peers-dns", DOMAIN, "--replicas", "3",
            "--hostname", f"kv-{ordinal}", "--dns-server", c.dns_server, *c.admin_flags(ordinal)]


@pytest.mark.unit
def test_rank_prefers_caught_up_followers_of_this_leader():
    leader = {"id": 1, "term": 5}
    peers = {
        2: {"id": 2, "term": 5, "leader": 1, "applied": 90, "commit": 100},
        3: {"id": 3, "term": 5, "leader": 1, "applied": 100, "commit": 100},
        4: None,                                                              # does not answer
        5: {"id": 5, "term": 4, "leader": 2, "applied": 500, "commit": 500},  # stale term: no follower of ours
    }
    assert rank_followers(leader, peers) == [3, 2, 5, 4]


@pytest.mark.integration
def test_leader_steps_down_and_another_leads_within_the_bound(running_cluster):
    c = running_cluster
    old = c.wait_leader()
    for i in range(20):  # some log, so "most caught up" means something
        assert http(c.address(old - 1), "PUT", f"/kv/k{i}", {"value": i, "request_id": f"t:{i}"})[0] == 200
    start = time.monotonic()
    r = admin(*step_down_flags(c, old - 1), "--timeout", "10")
    elapsed = time.monotonic() - start
    assert r.returncode == 0, r.stderr + c.logs()
    assert f"leadership moved from node {old} to node" in r.stdout
    assert elapsed < 10
    new = c.wait_leader(timeout=5, exclude=(old,))
    assert new != old
    assert http(c.address(new - 1), "PUT", "/kv/after", {"value": 1, "request_id": "t:100"})[0] == 200


@pytest.mark.integration
def test_step_down_skips_a_follower_that_does_not_answer(running_cluster):
    c = running_cluster
    old = c.wait_leader()
    paused = next(o for o in range(3) if o != old - 1)
    c.procs[paused].send_signal(signal.SIGSTOP)
    try:
        r = admin(*step_down_flags(c, old - 1), "--timeout", "15")
    finally:
        c.procs[paused].send_signal(signal.SIGCONT)
    assert r.returncode == 0, r.stderr + c.logs()
    other = ({1, 2, 3} - {old, paused + 1}).pop()
    assert f"leadership moved from node {old} to node {other}" in r.stdout


@pytest.mark.integration
def test_step_down_on_a_follower_does_nothing(running_cluster):
    c = running_cluster
    leader = c.wait_leader()
    follower = next(o for o in range(3) if o != leader - 1)
    r = admin(*step_down_flags(c, follower), "--timeout", "5")
    assert r.returncode == 0, r.stderr
    assert f"is not the leader (leader: {leader}); nothing to do" in r.stdout
    assert c.wait_leader() == leader


@pytest.mark.integration
def test_step_down_gives_up_at_its_deadline_when_nobody_can_take_over(running_cluster):
    c = running_cluster
    leader = c.wait_leader()
    # the only candidate it is told about is paused; the other follower keeps the leader's quorum
    # (pausing both would make it step down by itself through CheckQuorum)
    paused = next(o for o in range(3) if o != leader - 1)
    c.procs[paused].send_signal(signal.SIGSTOP)
    try:
        start = time.monotonic()
        r = admin("step-down", "--address", c.address(leader - 1), "--timeout", "3",
                  "--peer-clients", f"{leader}={c.address(leader - 1)},{paused + 1}={c.address(paused)}",
                  *c.admin_flags(leader - 1))
        elapsed = time.monotonic() - start
    finally:
        c.procs[paused].send_signal(signal.SIGCONT)
    assert r.returncode == 1, r.stdout
    assert f"error: node {leader} still leads" in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1
    assert 3 <= elapsed < 3 + 6  # bounded: the deadline plus at most one request's timeout
    # (after SIGCONT the paused node may still take over: a queued TimeoutNow reaches it then)


@pytest.mark.integration
def test_probes(running_cluster, tmp_path):
    c = running_cluster
    c.wait_leader()
    assert admin("ready", "--address", c.address(0)).returncode == 0
    st = admin("status", "--address", c.address(0))
    assert st.returncode == 0 and '"role"' in st.stdout
    # a node alone knows no leader: alive for liveness, not ready
    lone = c.ips[0].rsplit(".", 1)[0] + ".99"
    from .conftest import _port_free_on
    port = _port_free_on([lone])
    p = subprocess.Popen([sys.executable, "-m", "reference_kv", "--id", "1", "--listen", f"{lone}:{port}",
                          "--peer-listen", f"{lone}:{_port_free_on([lone])}", "--peers", "1=127.0.0.1:1,2=127.0.0.1:2",
                          "--peer-plaintext", "--data-dir", str(tmp_path / "lone"), "--storage", "memory"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while admin("status", "--address", f"{lone}:{port}").returncode != 0:
            assert time.monotonic() < deadline, "lone node never answered"
            time.sleep(0.1)
        r = admin("ready", "--address", f"{lone}:{port}")
        assert r.returncode == 1 and "knows no leader" in r.stderr
    finally:
        p.terminate()
        p.wait(10)
    r = admin("ready", "--address", f"{lone}:{port}", "--timeout", "0.5")
    assert r.returncode == 1 and "does not answer" in r.stderr


@pytest.mark.unit
@pytest.mark.parametrize("args, message", [
    (["step-down", "--address", "127.0.0.1:1"], "needs --peer-clients or --peers-dns"),
    (["step-down", "--address", "nope"], "expected HOST:PORT"),
    (["step-down", "--address", "127.0.0.1:1", "--peers-dns", "kv"], "--peers-dns needs --replicas"),
    (["ready"], "--address"),
])
def test_bad_flags_are_one_line(args, message):
    r = admin(*args)
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr
