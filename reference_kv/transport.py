"""Peer transport: length-prefixed msgpack frames over TCP.

Each node dials one connection to every peer and only *sends* on connections it
dialled; it only *reads* from connections it accepted. So traffic i -> j always
flows over a connection i opened to the address i was given for j, and a proxy
on that address (the local nemesis backend) cuts exactly the link i -> j.

A frame is `[kind, payload]`: kind 0 is a Raft message (types.to_wire), other
kinds belong to the snapshot transfer. Sends never block the caller: each peer
has a bounded queue; when it is full or the peer is unreachable the frame is
dropped and `on_unreachable(peer)` tells the node (Raft retries by itself).
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
    def __init__(self, transport: "Transport", peer_id: int, address: str):
        self.t = transport
        self.id = peer_id
        self.address = address
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_LIMIT)
        self.connected = False
        self.task = asyncio.get_running_loop().create_task(self._run())

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
                self.connected = True
                backoff = BACKOFF_MIN
                # The peer never writes on this connection; EOF on read means it closed.
                closed = asyncio.get_running_loop().create_task(reader.read(1))
                while not closed.done():
                    get = asyncio.ensure_future(self.queue.get())
                    done, _ = await asyncio.wait({get, closed}, return_when=asyncio.FIRST_COMPLETED)
                    if get not in done:
                        get.cancel()
                        break
                    frames = [get.result()]
                    while not self.queue.empty() and len(frames) < 512:
                        frames.append(self.queue.get_nowait())
                    writer.write(b"".join(frames))
                    await writer.drain()
                closed.cancel()
            except asyncio.CancelledError:
                raise
            except (OSError, asyncio.TimeoutError, ValueError) as e:
                log.debug("peer %d at %s: %s", self.id, self.address, e)
            finally:
                self.connected = False
                if writer is not None:
                    writer.close()
            self._drop_queued()
            self.t.on_unreachable(self.id)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _drop_queued(self):
        while not self.queue.empty():
            self.queue.get_nowait()

    def send(self, frame: bytes) -> bool:
        if not self.connected:
            return False
        try:
            self.queue.put_nowait(frame)
            return True
        except asyncio.QueueFull:
            return False


class Transport:
    """on_frame(kind, payload) receives every inbound frame; on_unreachable(peer_id) every drop."""

    def __init__(self, listen: str, peers: dict[int, str], on_frame=None, on_unreachable=None):
        self.listen = listen
        self.addresses = dict(peers)
        self.on_frame = on_frame or (lambda kind, payload: None)
        self.on_unreachable = on_unreachable or (lambda peer: None)
        self._peers: dict[int, _Peer] = {}
        self._server: asyncio.AbstractServer | None = None
        self._conns: set[asyncio.StreamWriter] = set()

    async def start(self):
        host, port = split_hostport(self.listen)
        self._server = await asyncio.start_server(self._serve, host, port, reuse_address=True)
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
        return 0 if p is None or not p.connected else QUEUE_LIMIT - p.queue.qsize()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._conns.add(writer)
        try:
            while True:
                header = await reader.readexactly(4)
                (n,) = _HEADER.unpack(header)
                if n > MAX_FRAME:
                    log.warning("dropping connection: %d-byte frame", n)
                    return
                kind, payload = msgpack.unpackb(await reader.readexactly(n), raw=False)
                try:
                    self.on_frame(kind, payload)
                except Exception:
                    log.exception("handling frame of kind %s", kind)
        except (asyncio.IncompleteReadError, OSError, ValueError, msgpack.UnpackException):
            pass
        finally:
            self._conns.discard(writer)
            writer.close()

    async def close(self):
        for p in self._peers.values():
            p.task.cancel()
        if self._server is not None:
            self._server.close()
        for w in list(self._conns):
            w.close()
