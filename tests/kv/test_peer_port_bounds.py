"""The peer port is reachable by anyone on the network: what a connection can make a node hold is bounded.

In-process tests drive a real Transport on loopback with small bounds; the
last test repeats the issue's attack (six connections, each announcing a
64 MiB frame) on a real node process and watches its resident memory.
"""
from __future__ import annotations

import asyncio
import socket
import struct
import time

import pytest

from reference_kv.transport import RAFT, Transport, encode_frame, split_hostport

from .harness import free_port


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _header(kind: int, size: int) -> bytes:
    """A frame header announcing `size` body bytes, and the body's first bytes ([kind, ...)."""
    return struct.pack(">I", size) + b"\x92" + bytes([kind])


async def _closed(reader: asyncio.StreamReader, within: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), within) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except asyncio.TimeoutError:
        return False


def _run(main):
    return asyncio.run(asyncio.wait_for(main(), 30))


async def _transport(**kw) -> tuple[Transport, list, str]:
    got = []
    addr = f"127.0.0.1:{free_port()}"
    t = Transport(addr, {}, lambda kind, payload: got.append((kind, payload)), **kw)
    await t.start()
    return t, got, addr


@pytest.mark.integration
def test_frame_over_its_kinds_limit_or_of_unknown_kind_closes_the_connection():
    async def main():
        t, got, addr = await _transport(limits={RAFT: 1000, 5: 50})
        host, port = split_hostport(addr)
        results = []
        for kind, size in [(RAFT, 1001), (5, 51), (9, 10)]:
            r, w = await asyncio.open_connection(host, port)
            w.write(_header(kind, size))
            results.append(await _closed(r, 2))
            w.close()
        r, w = await asyncio.open_connection(host, port)
        w.write(encode_frame(RAFT, b"x" * 900) + encode_frame(5, [1, 2]))
        await asyncio.sleep(0.2)
        await t.close()
        return results, got

    results, got = _run(main)
    assert results == [True, True, True]
    assert got == [(RAFT, b"x" * 900), (5, [1, 2])]


@pytest.mark.integration
def test_incomplete_frames_share_one_budget():
    async def main():
        t, _, addr = await _transport(limits={RAFT: 1 << 20}, inbound_budget=2 << 20)
        host, port = split_hostport(addr)
        conns = []
        for _ in range(4):  # each announces 900 KiB and sends half of it: only two fit in 2 MiB
            r, w = await asyncio.open_connection(host, port)
            w.write(_header(RAFT, 900 << 10) + b"\0" * (450 << 10))
            await w.drain()
            conns.append((r, w))
            await asyncio.sleep(0.1)
        closed = [await _closed(r, 0.5) for r, _ in conns]
        held = t._inbound_bytes
        await t.close()
        return closed, held

    closed, held = _run(main)
    assert closed == [False, False, True, True]
    assert held <= 2 << 20


@pytest.mark.integration
def test_connection_count_and_silent_connections_are_bounded():
    async def main():
        t, _, addr = await _transport(max_inbound=5, handshake_s=0.5)
        host, port = split_hostport(addr)
        conns = [await asyncio.open_connection(host, port) for _ in range(8)]
        await asyncio.sleep(0.1)
        open_now = len(t._conns)
        silent_closed = [await _closed(r, 2) for r, _ in conns]
        await t.close()
        return open_now, silent_closed

    open_now, silent_closed = _run(main)
    assert open_now == 5
    assert all(silent_closed)  # the three over the bound at once, the five others after the handshake time


@pytest.mark.integration
def test_six_connections_announcing_64mib_do_not_grow_a_node(make_cluster):
    c = make_cluster(3)
    c.wait(lambda: c.status(1), what="node 1 serving")  # a leader elsewhere does not mean node 1 listens yet
    pid = c.procs[1].pid
    before = _rss(pid)
    host, port = split_hostport(c.peer[1])
    socks = []
    deadline = time.monotonic() + 20
    for _ in range(6):
        s = socket.create_connection((host, port), timeout=2)
        s.settimeout(0.5)
        socks.append(s)
        s.sendall(_header(RAFT, 64 << 20))
    chunk = b"\0" * (1 << 20)
    for _ in range(60):  # up to 60 MiB each, until the node hangs up on every one
        if time.monotonic() > deadline:
            break
        for s in list(socks):
            try:
                s.sendall(chunk)
            except OSError:
                socks.remove(s)
                s.close()
        if not socks:
            break
    grown = _rss(pid) - before
    for s in socks:
        s.close()
    assert grown < 64 << 20, f"node grew by {grown >> 20} MiB"
    assert c.status(1) is not None


@pytest.mark.unit
def test_sending_a_kind_without_a_limit_fails_at_the_sender():
    """The receiving peer would close the connection on it; the sender says so at once instead."""
    t = Transport("127.0.0.1:1", {}, limits={RAFT: 100})
    with pytest.raises(ValueError, match="no size limit"):
        t.send(2, 19, [1])
