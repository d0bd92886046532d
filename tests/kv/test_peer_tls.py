"""Peer transport with mutual TLS: members of the cluster CA talk; nobody else gets a frame read."""
from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import sys

import pytest

from reference_kv.tls import PeerTLS, create_ca, issue
from reference_kv.transport import RAFT, Transport, encode_frame, split_hostport

from .harness import free_port, http


@pytest.fixture
def pki(tmp_path):
    ca = create_ca(tmp_path / "ca")
    members = {i: issue(ca, tmp_path / f"m{i}", f"member-{i}", ["127.0.0.1"]) for i in (1, 2, 3)}
    stranger_ca = create_ca(tmp_path / "other-ca")
    stranger = issue(stranger_ca, tmp_path / "stranger", "stranger", ["127.0.0.1"])
    return ca, members, stranger


async def _pair(tls_a, tls_b):
    got = []
    a_addr, b_addr = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    b = Transport(b_addr, {}, lambda kind, payload: got.append(payload), tls=tls_b)
    await b.start()
    a = Transport(a_addr, {2: b_addr}, tls=tls_a)
    await a.start()
    for _ in range(100):  # a bounded wait for the dialled connection
        if a.send(2, RAFT, "hello"):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    await a.close()
    await b.close()
    return got


@pytest.mark.integration
def test_members_of_one_ca_exchange_frames(pki):
    _, members, _ = pki
    assert asyncio.run(_pair(members[1], members[2])) == ["hello"]


@pytest.mark.integration
@pytest.mark.parametrize("who", ["stranger-ca", "plaintext"])
def test_nobody_outside_the_ca_gets_a_frame_read(pki, who):
    _, members, stranger = pki
    assert asyncio.run(_pair(stranger if who == "stranger-ca" else None, members[2])) == []


@pytest.mark.integration
def test_tls_client_without_a_certificate_is_refused(pki):
    _, members, _ = pki

    async def main():
        got = []
        addr = f"127.0.0.1:{free_port()}"
        t = Transport(addr, {}, lambda kind, payload: got.append(payload), tls=members[1])
        await t.start()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        host, port = split_hostport(addr)
        try:
            r, w = await asyncio.open_connection(host, port, ssl=ctx)
            w.write(encode_frame(RAFT, "sneaky"))
            await w.drain()
            await asyncio.wait_for(r.read(1), 2)  # TLS 1.3 reports the refused certificate here
        except (OSError, asyncio.TimeoutError):
            pass
        await asyncio.sleep(0.2)
        await t.close()
        return got

    assert asyncio.run(main()) == []


@pytest.mark.integration
def test_cluster_with_peer_tls_elects_and_serves(make_cluster, pki, tmp_path):
    ca, members, _ = pki
    c = make_cluster(3, start=False)
    c.peer_tls = {i: members[i].cert.parent for i in c.ids}
    c.start_all()
    leader = c.wait_leader(15)
    code, _ = http(c.client[leader], "PUT", "/kv/k", {"value": "v"})
    assert code in (200, 201, 204)
    code, body = http(c.client[leader], "GET", "/kv/k")
    assert code == 200 and "v" in str(body)
    # A plaintext peer on the TLS port is closed, and the cluster keeps its leader.
    host, port = split_hostport(c.peer[leader])
    with socket.create_connection((host, port), timeout=3) as s:
        s.sendall(encode_frame(RAFT, "garbage"))
        s.settimeout(8)
        try:
            assert s.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            pass
    assert c.wait_leader(5) == leader


@pytest.mark.integration
def test_bad_peer_tls_directory_is_one_line_and_exit_2(tmp_path):
    r = subprocess.run([sys.executable, "-m", "reference_kv", "--id", "1", "--listen", "127.0.0.1:1",
                        "--peer-listen", "127.0.0.1:2", "--peers", "1=127.0.0.1:2", "--data-dir", str(tmp_path / "d"),
                        "--peer-tls", str(tmp_path / "nothing-here")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "ca.crt" in r.stderr
