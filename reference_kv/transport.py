"""Peer transport: length-prefixed msgpack frames over TCP.

Each node dials one connection to every peer and only *sends* on connections it
dialled; it only *reads* from connections it accepted. So traffic i -> j always
flows over a connection i opened to the address i was given for j, and a proxy
on that address (the local nemesis backend) cuts exactly the link i -> j.

A frame is `[kind, payload]`: kind 0 is a Raft message (types.to_wire), other
kinds belong to the snapshot transfer. Sends never block the caller: frames
queued for a peer during one event-loop iteration leave in one write (one
syscall for a whole Ready); when a peer's unsent bytes pass a bound or the peer
is unreachable the frame is dropped and `on_unreachable(peer)` tells the node
(Raft retries by itself).

Whoever can reach the peer port can send anything, so what a connection may
make the node hold is bounded before it is buffered: each frame kind has a
size limit (`limits`, set by whoever owns the kind; unknown kinds close the
connection), the bytes announced by all incomplete inbound frames together
stay under INBOUND_BUDGET, at most MAX_INBOUND connections are open, and a
connection that has not delivered a whole frame within HANDSHAKE_S is closed.
With `tls` (reference_kv.tls.PeerTLS) both ends of every connection prove
membership with a certificate of the cluster CA before any frame is read, and
the TLS handshake itself must finish within HANDSHAKE_S.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import struct

import msgpack

log = logging.getLogger("reference_kv.transport")

RAFT = 0
_HEADER = struct.Struct(">I")
MAX_FRAME = 64 << 20
# A Raft message holds at most max_size_per_msg (1 MiB) of entries, or one entry
# if that is larger; client values are far smaller than this.
RAFT_FRAME_LIMIT = 16 << 20
INBOUND_BUDGET = 48 << 20
MAX_INBOUND = 64
HANDSHAKE_S = 5.0
QUEUE_LIMIT = 8192
QUEUE_BYTES = MAX_FRAME  # unsent bytes per peer before frames are dropped
BACKOFF_MIN, BACKOFF_MAX = 0.01, 0.2


def encode_frame(kind: int, payload) -> bytes:
    body = msgpack.packb([kind, payload], use_bin_type=True)
    return _HEADER.pack(len(body)) + body


def split_hostport(s: str) -> tuple[str, int]:
    host, sep, port = s.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"bad address {s!r}: expected HOST:PORT")
    return host, int(port)


class _Peer:
    """The connection this node dials to one peer; frames queued in one loop iteration go out in one write."""

    def __init__(self, transport: "Transport", peer_id: int, address: str):
        self.t = transport
        self.id = peer_id
        self.address = address
        self.connected = False
        self._writer: asyncio.StreamWriter | None = None
        self._frames: list[bytes] = []
        self._pending = 0  # bytes in _frames
        self._flush_scheduled = False
        self._loop = asyncio.get_running_loop()
        self.task = self._loop.create_task(self._run())

    async def _run(self):
        backoff = BACKOFF_MIN
        while True:
            writer = None
            try:
                host, port = split_hostport(self.address)
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port, **self.t.dial_tls), 1.0 + (self.t.tls is not None))
                sock = writer.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._writer = writer
                self.connected = True
                backoff = BACKOFF_MIN
                # The peer never writes on this connection; EOF on read means it closed.
                await reader.read(1)
            except asyncio.CancelledError:
                raise
            except (OSError, asyncio.TimeoutError, ValueError) as e:  # ssl.SSLError is an OSError
                log.debug("peer %d at %s: %s", self.id, self.address, e)
            finally:
                self.connected = False
                self._writer = None
                if writer is not None:
                    writer.close()
            self._frames.clear()
            self._pending = 0
            self.t.on_unreachable(self.id)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    def send(self, frame: bytes) -> bool:
        if not self.connected:
            return False
        w = self._writer
        # Bytes the kernel has not taken yet plus ours: a peer that stopped
        # reading costs bounded memory; Raft resends what is dropped.
        if self._pending + w.transport.get_write_buffer_size() > QUEUE_BYTES:
            return False
        self._frames.append(frame)
        self._pending += len(frame)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)
        return True

    def _flush(self):
        self._flush_scheduled = False
        frames, self._frames = self._frames, []
        self._pending = 0
        w = self._writer
        if not frames or w is None or w.is_closing():
            return
        w.write(frames[0] if len(frames) == 1 else b"".join(frames))

    def room(self) -> int:
        return max(0, QUEUE_LIMIT - len(self._frames)) if self.connected else 0


def _frame_kind(buf, off: int) -> int | None:
    """The kind of the frame whose body starts at buf[off]: msgpack [kind, payload] with a small int kind."""
    if buf[off] != 0x92:  # a two-element array
        return -1
    k = buf[off + 1]
    return k if k < 0x80 else -1  # positive fixint


class _Inbound(asyncio.Protocol):
    """One accepted connection: frames are cut from the byte stream as they arrive, no task per frame."""

    def __init__(self, t: "Transport"):
        self.t = t
        self.buf = bytearray()
        self.transport = None
        self.announced = 0  # size of the incomplete frame, counted in the transport's budget
        self._handshake = None

    def connection_made(self, transport):
        self.transport = transport
        if len(self.t._conns) >= self.t.max_inbound:
            log.warning("refusing peer connection from %s: %d already open",
                        transport.get_extra_info("peername"), len(self.t._conns))
            transport.abort()
            return
        self.t._conns.add(transport)
        self._handshake = asyncio.get_running_loop().call_later(self.t.handshake_s, self._too_slow)

    def _too_slow(self):
        log.warning("closing peer connection from %s: no whole frame within %.0f s",
                    self.transport.get_extra_info("peername"), self.t.handshake_s)
        self._drop()

    def _drop(self):
        self.transport.abort()
        self.buf.clear()
        self._announce(0)

    def _announce(self, n: int):
        self.t._inbound_bytes += n - self.announced
        self.announced = n

    def connection_lost(self, exc):
        self.t._conns.discard(self.transport)
        if self._handshake is not None:
            self._handshake.cancel()
        self._announce(0)

    def data_received(self, data: bytes):
        buf = self.buf
        buf += data
        off = 0
        n_buf = len(buf)
        limits = self.t.limits
        try:
            while n_buf - off >= 6:
                (n,) = _HEADER.unpack_from(buf, off)
                if n < 2:
                    raise ValueError("empty frame")
                kind = _frame_kind(buf, off + 4)
                limit = limits.get(kind)
                if limit is None or n > limit:
                    log.warning("dropping peer connection: %d-byte frame of kind %s (limit %s)", n, kind, limit)
                    self._drop()
                    return
                if n_buf - off - 4 < n:
                    if self.announced != n:
                        if self.t._inbound_bytes - self.announced + n > self.t.inbound_budget:
                            log.warning("dropping peer connection: %d-byte frame over the inbound budget", n)
                            self._drop()
                            return
                        self._announce(n)
                    break
                kind, payload = msgpack.unpackb(memoryview(buf)[off + 4:off + 4 + n], raw=False)
                off += 4 + n
                self._announce(0)
                if self._handshake is not None:
                    self._handshake.cancel()
                    self._handshake = None
                try:
                    self.t.on_frame(kind, payload)
                except Exception:
                    log.exception("handling frame of kind %s", kind)
        except (ValueError, TypeError, msgpack.UnpackException):
            self._drop()
            return
        if off:
            del buf[:off]


class Transport:
    """on_frame(kind, payload) receives every inbound frame; on_unreachable(peer_id) every drop.

    limits maps each frame kind the owner handles to its largest size in bytes;
    frames of other kinds close their connection.
    """

    def __init__(self, listen: str, peers: dict[int, str], on_frame=None, on_unreachable=None, *,
                 limits: dict[int, int] | None = None, max_inbound: int = MAX_INBOUND,
                 inbound_budget: int = INBOUND_BUDGET, handshake_s: float = HANDSHAKE_S, tls=None):
        self.listen = listen
        self.addresses = dict(peers)
        self.on_frame = on_frame or (lambda kind, payload: None)
        self.on_unreachable = on_unreachable or (lambda peer: None)
        self.limits = dict(limits or {RAFT: RAFT_FRAME_LIMIT})
        self.max_inbound = max_inbound
        self.inbound_budget = inbound_budget
        self.handshake_s = handshake_s
        self.tls = tls
        self.dial_tls = {} if tls is None else {"ssl": tls.client_context(), "ssl_handshake_timeout": handshake_s}
        self._inbound_bytes = 0
        self._peers: dict[int, _Peer] = {}
        self._server: asyncio.AbstractServer | None = None
        self._conns: set[asyncio.Transport] = set()

    async def start(self):
        host, port = split_hostport(self.listen)
        loop = asyncio.get_running_loop()
        listen_tls = {} if self.tls is None else {"ssl": self.tls.server_context(),
                                                  "ssl_handshake_timeout": self.handshake_s}
        self._server = await loop.create_server(lambda: _Inbound(self), host, port, reuse_address=True, **listen_tls)
        for pid, addr in self.addresses.items():
            self._peers[pid] = _Peer(self, pid, addr)

    def add_peer(self, peer_id: int, address: str):
        if peer_id in self._peers:
            return
        self.addresses[peer_id] = address
        self._peers[peer_id] = _Peer(self, peer_id, address)

    def remove_peer(self, peer_id: int):
        p = self._peers.pop(peer_id, None)
        self.addresses.pop(peer_id, None)
        if p:
            p.task.cancel()

    def send(self, peer_id: int, kind: int, payload) -> bool:
        if kind not in self.limits:
            # Peers run this code too and would close the connection on it: a programming error, said at once.
            raise ValueError(f"frame kind {kind} has no size limit; give it one where its owner sets `limits`")
        p = self._peers.get(peer_id)
        if p is None or not p.send(encode_frame(kind, payload)):
            self.on_unreachable(peer_id)
            return False
        return True

    def queue_room(self, peer_id: int) -> int:
        p = self._peers.get(peer_id)
        return 0 if p is None else p.room()

    async def close(self):
        for p in self._peers.values():
            p.task.cancel()
        if self._server is not None:
            self._server.close()
        for w in list(self._conns):
            w.close()
