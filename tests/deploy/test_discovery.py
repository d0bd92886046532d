"""Peer discovery from DNS: a real resolver asking a real DNS server on loopback, then real nodes."""
from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from reference_kv import discovery
from reference_kv.__main__ import build_parser as node_parser

from .conftest import DOMAIN, http


# --- pure parts -------------------------------------------------------------------------

@pytest.mark.unit
@pytest.mark.parametrize("hostname, expected", [
    ("kv-0", ("kv", 0)), ("kv-12", ("kv", 12)), ("my-kv-3", ("my-kv", 3)),
    ("kv-1.kv.ns.svc.cluster.local", ("kv", 1)),
])
def test_parse_hostname(hostname, expected):
    assert discovery.parse_hostname(hostname) == expected


@pytest.mark.unit
@pytest.mark.parametrize("hostname", ["kv", "kv-", "-3", "kv-x", "kv-1a", ""])
def test_parse_hostname_rejects(hostname):
    with pytest.raises(discovery.DiscoveryError, match="not <statefulset>-<ordinal>"):
        discovery.parse_hostname(hostname)


class FakeTime:
    def __init__(self):
        self.t = 0.0

    def clock(self):
        return self.t

    def sleep(self, s):
        assert s > 0
        self.t += s


@pytest.mark.unit
def test_wait_resolved_backs_off_and_stops_at_deadline():
    ft = FakeTime()
    calls = []

    def resolve(name):
        calls.append(ft.t)
        raise LookupError("NXDOMAIN")

    with pytest.raises(discovery.ResolveTimeout, match=r"a\.x did not resolve within 30 s \(last error: NXDOMAIN\)"):
        discovery.wait_resolved(["a.x"], resolve, 30, clock=ft.clock, sleep=ft.sleep)
    gaps = [b - a for a, b in zip(calls, calls[1:])]
    assert gaps[:4] == pytest.approx([0.1, 0.2, 0.4, 0.8]) and max(gaps) <= 2.0 + 1e-9
    assert calls[-1] == pytest.approx(30)  # one last try exactly at the deadline, none after
    assert len(calls) < 25


@pytest.mark.unit
def test_plan_builds_ids_from_ordinals():
    addrs = {f"kv-{i}.svc": f"10.1.0.{i}" for i in range(3)}

    def resolve(name):
        return addrs[name]

    by_name = discovery.plan("kv-2", "svc", 3, 9000, 8000, resolve, 1)
    assert by_name == discovery.Plan(id=3, peers={1: "kv-0.svc:9000", 2: "kv-1.svc:9000", 3: "kv-2.svc:9000"},
                                     peer_clients={1: "kv-0.svc:8000", 2: "kv-1.svc:8000", 3: "kv-2.svc:8000"})
    by_ip = discovery.plan("kv-0", "svc", 3, 9000, 8000, resolve, 1, use_ip=True)
    assert by_ip.id == 1 and by_ip.peers[2] == "10.1.0.1:9000" and by_ip.peer_clients[3] == "10.1.0.2:8000"
    with pytest.raises(discovery.DiscoveryError, match="ordinal 3 .* not below --replicas 3"):
        discovery.plan("kv-3", "svc", 3, 9000, 8000, resolve, 1)


@pytest.mark.unit
def test_expand_argv_feeds_the_node_parser():
    flags = ["--listen", "0.0.0.0:8000", "--peer-listen=0.0.0.0:9000", "--data-dir", "/data/kv"]
    assert discovery.expand_argv(flags) == flags  # no --peers-dns: the hook changes nothing
    out = discovery.expand_argv(["--peers-dns", "kv", "--replicas", "3", "--hostname", "kv-1", *flags],
                                resolver=lambda name: "10.0.0.1")
    args = node_parser().parse_args(out)
    assert args.id == 2
    assert args.peers == {1: "kv-0.kv:9000", 2: "kv-1.kv:9000", 3: "kv-2.kv:9000"}
    assert args.peer_clients == {1: "kv-0.kv:8000", 2: "kv-1.kv:8000", 3: "kv-2.kv:8000"}
    assert args.data_dir == "/data/kv"


@pytest.mark.unit
@pytest.mark.parametrize("extra, message", [
    (["--replicas", "3", "--peers", "1=a:1"], "either --peers-dns or --peers"),
    ([], "--peers-dns needs --replicas"),
    (["--replicas", "3", "--id", "3"], "--id 3 contradicts"),
    (["--replicas", "0"], "must be an integer >= 1"),
])
def test_expand_argv_rejects_bad_flags(extra, message, capsys):
    argv = ["--peers-dns", "kv", "--hostname", "kv-0", "--listen", "h:8000", "--peer-listen", "h:9000", *extra]
    with pytest.raises(SystemExit) as e:
        discovery.expand_argv(argv, resolver=lambda name: "10.0.0.1")
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


# --- a real resolver against a real DNS server ------------------------------------------

@pytest.mark.integration
def test_nameserver_resolver_answers_and_misses(dns):
    records, server = dns
    records.set("kv-0." + DOMAIN, "127.9.9.1")
    resolve = discovery.nameserver_resolver(server)
    assert resolve("kv-0." + DOMAIN) == "127.9.9.1"
    with pytest.raises(LookupError, match="NXDOMAIN"):
        resolve("kv-1." + DOMAIN)


@pytest.mark.integration
def test_names_that_appear_late_are_retried(dns):
    records, server = dns
    names = [f"kv-{i}.{DOMAIN}" for i in range(3)]
    records.set(names[0], "127.9.9.1")

    def pods_appear():  # one by one, as a StatefulSet's pods get their IPs
        time.sleep(0.4)
        records.set(names[1], "127.9.9.2")
        time.sleep(0.4)
        records.set(names[2], "127.9.9.3")

    t = threading.Thread(target=pods_appear)
    start = time.monotonic()
    t.start()
    try:
        got = discovery.wait_resolved(names, discovery.nameserver_resolver(server), timeout=10)
    finally:
        t.join()
    assert got == dict(zip(names, ["127.9.9.1", "127.9.9.2", "127.9.9.3"]))
    assert 0.8 <= time.monotonic() - start < 5
    assert records.queries > 3  # it asked again, it did not wait for one answer


@pytest.mark.integration
def test_a_name_that_never_resolves_fails_clearly_at_the_deadline(dns):
    records, server = dns
    records.set(f"kv-0.{DOMAIN}", "127.9.9.1")
    argv = [sys.executable, "-m", "reference_kv.discovery", "--peers-dns", DOMAIN, "--replicas", "2",
            "--hostname", "kv-0", "--dns-server", server, "--dns-timeout", "1.5",
            "--listen", "127.0.0.1:1", "--peer-listen", "127.0.0.1:2", "--data-dir", "/nonexistent", "--dry-run"]
    start = time.monotonic()
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    elapsed = time.monotonic() - start
    assert r.returncode == 1, r.stderr
    assert f"reference_kv: error: kv-1.{DOMAIN} did not resolve within 1.5 s" in r.stderr
    assert "Traceback" not in r.stderr
    assert 1.5 <= elapsed < 10


@pytest.mark.integration
def test_dry_run_prints_the_node_command_line(dns):
    records, server = dns
    for i in range(3):
        records.set(f"kv-{i}.{DOMAIN}", f"127.9.9.{i + 1}")
    argv = [sys.executable, "-m", "reference_kv.discovery", "--peers-dns", DOMAIN, "--replicas", "3",
            "--hostname", "kv-2", "--dns-server", server, "--peer-hosts", "ip",
            "--listen", "0.0.0.0:8000", "--peer-listen", "0.0.0.0:9000", "--data-dir", "/d", "--dry-run"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["--id", "3", "--listen", "0.0.0.0:8000", "--peer-listen", "0.0.0.0:9000",
                                "--data-dir", "/d",
                                "--peers", "1=127.9.9.1:9000,2=127.9.9.2:9000,3=127.9.9.3:9000",
                                "--peer-clients", "1=127.9.9.1:8000,2=127.9.9.2:8000,3=127.9.9.3:8000"]


@pytest.mark.integration
def test_pods_started_before_their_peers_resolve_form_a_cluster(dns_cluster):
    """Like a Parallel StatefulSet bootstrap: every pod starts at once, the names appear one by one."""
    c, records = dns_cluster
    for o in range(c.replicas):
        c.launch(o)
    for o in range(c.replicas):
        time.sleep(0.3)
        assert all(p.poll() is None for p in c.procs.values()), c.logs()
        records.set(c.name(o), c.ips[o])
    leader = c.wait_leader(timeout=20)
    assert leader in (1, 2, 3)
    # ids come from the ordinals, addresses from DNS
    assert {c.status(o)["id"] for o in range(c.replicas)} == {1, 2, 3}
    code, body = http(c.address(leader - 1), "PUT", "/kv/k", {"value": 1, "request_id": "t:1"})
    assert (code, body) == (200, {"ok": True})
