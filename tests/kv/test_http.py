"""Integration: the client API's HTTP on a real node, spoken to over raw sockets.

llhttp (httptools) decides what a request is; these pin what the node does with
what it refuses, and that keep-alive and pipelining hold.
"""
from __future__ import annotations

import re
import socket

import pytest

pytestmark = pytest.mark.integration


def _sock(address: str) -> socket.socket:
    host, _, port = address.rpartition(":")
    s = socket.create_connection((host, int(port)), timeout=5)
    return s


def _read_all(s: socket.socket) -> bytes:
    """Everything until the server closes (bounded by the socket's timeout)."""
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return out
        out += chunk


def _statuses(raw: bytes) -> list[int]:
    return [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", raw)]


def _put(key: str, value: str, extra: str = "") -> bytes:
    body = f'{{"value": "{value}"}}'.encode()
    return (f"PUT /kv/{key} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode() + body


@pytest.fixture
def node(make_cluster):
    c = make_cluster(1, "--storage", "memory", "--max-value-bytes", "1000")
    return c.client[c.wait_leader()]


def test_pipelined_requests_are_answered_in_order_even_after_a_half_close(node):
    s = _sock(node)
    s.sendall(_put("p", "1") + _put("p", "2") + b"GET /kv/p HTTP/1.1\r\nHost: x\r\n\r\n")
    s.shutdown(socket.SHUT_WR)  # nothing more to say; the answers must still come
    raw = _read_all(s)
    assert _statuses(raw) == [200, 200, 200], raw
    assert raw.endswith(b'{"value":"2"}')


def test_keep_alive_and_http_1_0(node):
    s = _sock(node)
    for i in range(3):
        s.sendall(_put("k", str(i)))
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
    s.sendall(b"GET /kv/k HTTP/1.0\r\n\r\n")  # 1.0 without keep-alive: answered, then closed
    raw = _read_all(s)
    assert _statuses(raw) == [200] and b"Connection: close" in raw and raw.endswith(b'{"value":"2"}')


def test_a_chunked_body_is_read(node):
    s = _sock(node)
    body = b'{"value": "chunky"}'
    s.sendall(b"PUT /kv/c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
              + b"5\r\n" + body[:5] + b"\r\n" + b"%x\r\n" % (len(body) - 5) + body[5:] + b"\r\n0\r\n\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 200")
    s.sendall(b"GET /kv/c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert _read_all(s).endswith(b'{"value":"chunky"}')


@pytest.mark.parametrize("request_bytes, status", [
    # request smuggling: both framings (here a PUT hidden in a chunked body that a reader of
    # Content-Length alone takes for the next request), or two lengths that disagree
    (b"PUT /kv/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n"
     + b"%x\r\n" % len(_put("s", "evil")) + _put("s", "evil") + b"\r\n0\r\n\r\n", 400),
    (b"PUT /kv/s HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"PUT /kv/s HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", 400),
    # bad chunking
    (b"PUT /kv/s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400),
    # not HTTP, a bad header line, a negative length
    (b"HELLO\r\n\r\n", 400),
    (b"GET /kv/s HTTP/1.1\r\nno colon here\r\n\r\n", 400),
    (b"PUT /kv/s HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
    # oversized headers, an oversized body (refused before it is read), an oversized chunked body
    (b"GET /kv/s HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 431),
    (b"PUT /kv/s HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n", 413),
    (b"PUT /kv/s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1000\r\n" + b"x" * 4096 + b"\r\n"
     + b"1000\r\n" + b"x" * 4096 + b"\r\n0\r\n\r\n", 413),
])
def test_a_refused_request_gets_its_answer_and_closes_only_its_connection(node, request_bytes, status):
    bystander = _sock(node)
    bystander.sendall(_put("b", "before"))
    assert bystander.recv(4096).startswith(b"HTTP/1.1 200")
    s = _sock(node)
    # a good request first: pipelined before the bad one, it is answered as usual
    s.sendall(_put("s", "ok") + request_bytes)
    raw = _read_all(s)
    assert _statuses(raw) == [200, status], raw
    assert raw.rstrip().endswith(b"}") and b"Connection: close" in raw
    bystander.sendall(b"GET /kv/s HTTP/1.1\r\nHost: x\r\n\r\n")
    assert bystander.recv(4096).endswith(b'{"value":"ok"}')  # the smuggled PUT never happened


def test_an_incomplete_request_then_eof_is_refused(node):
    s = _sock(node)
    s.sendall(b"PUT /kv/s HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
    s.shutdown(socket.SHUT_WR)
    assert _statuses(_read_all(s)) == [400]
