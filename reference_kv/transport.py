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
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
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
            except (OSError, asyncio.TimeoutError, ValueError) as e:
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


class _Inbound(asyncio.Protocol):
    """One accepted connection: frames are cut from the byte stream as they arrive, no task per frame."""

    def __init__(self, t: "Transport"):
        self.t = t
        self.buf = bytearray()
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        self.t._conns.add(transport)

    def connection_lost(self, exc):
        self.t._conns.discard(self.transport)

    def data_received(self, data: bytes):
        buf = self.buf
        buf += data
        off = 0
        n_buf = len(buf)
        try:
            while n_buf - off >= 4:
                (n,) = _HEADER.unpack_from(buf, off)
                if n > MAX_FRAME:
                    log.warning("dropping connection: %d-byte frame", n)
                    self.transport.close()
                    buf.clear()
                    return
                if n_buf - off - 4 < n:
                    break
                kind, payload = msgpack.unpackb(memoryview(buf)[off + 4:off + 4 + n], raw=False)
                off += 4 + n
                try:
                    self.t.on_frame(kind, payload)
                except Exception:
                    log.exception("handling frame of kind %s", kind)
        except (ValueError, TypeError, msgpack.UnpackException):
            self.transport.close()
            buf.clear()
            return
        if off:
            del buf[:off]


class Transport:
    """on_frame(kind, payload) receives every inbound frame; on_unreachable(peer_id) every drop."""

    def __init__(self, listen: str, peers: dict[int, str], on_frame=None, on_unreachable=None):
        self.listen = listen
        self.addresses = dict(peers)
        self.on_frame = on_frame or (lambda kind, payload: None)
        self.on_unreachable = on_unreachable or (lambda peer: None)
        self._peers: dict[int, _Peer] = {}
        self._server: asyncio.AbstractServer | None = None
        self._conns: set[asyncio.Transport] = set()

    async def start(self):
        host, port = split_hostport(self.listen)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Inbound(self), host, port, reuse_address=True)
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
