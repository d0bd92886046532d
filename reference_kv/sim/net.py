"""An in-memory network with the peer transport's interface (reference_kv.transport.Transport).

Frames are msgpack-encoded on send and decoded on delivery, as on the wire,
and arrive after a delay drawn from the network's seeded rng, in order per
link (TCP) unless `reorder` is set. A link can be cut (frames vanish, as
behind an iptables DROP); a node that is down refuses the connection (the
sender hears `on_unreachable`); a paused node's inbound frames wait in its
socket and arrive when it resumes.
"""
from __future__ import annotations

import asyncio
import random

import msgpack


class Network:
    def __init__(self, rng: random.Random | None = None, delay: tuple[float, float] = (0.0002, 0.001)):
        self.rng = rng or random.Random(0)
        self.delay = delay
        self.reorder = False
        self.drop_rate = 0.0
        self.endpoints: dict[int, MemTransport] = {}
        self.cut: set[tuple[int, int]] = set()
        self._link_free: dict[tuple[int, int], float] = {}
        self.sent = 0
        self.delivered = 0
        self.filter = None  # callable(frm, to, kind, payload) -> True to drop the frame
        self.errors: list[str] = []  # frames the real transport would have refused
        self.on_send = None  # callable(frm, to, kind, payload): sees every frame a node sends

    def transport(self, node_id: int, peers: dict[int, str]) -> "MemTransport":
        return MemTransport(self, node_id, peers)

    # --- faults ----------------------------------------------------------------
    def isolate(self, i: int) -> None:
        for j in list(self.endpoints) + [i]:
            if j != i:
                self.cut |= {(i, j), (j, i)}

    def partition(self, *groups) -> None:
        for a in groups:
            for b in groups:
                if a is not b:
                    self.cut |= {(i, j) for i in a for j in b}

    def heal(self) -> None:
        self.cut.clear()

    # --- delivery ----------------------------------------------------------------
    def _schedule(self, src: "MemTransport", to: int, frame: bytes) -> None:
        dst = self.endpoints.get(to)
        loop = asyncio.get_running_loop()
        lo, hi = self.delay
        at = loop.time() + (lo + (hi - lo) * self.rng.random())
        link = (src.id, to)
        if not self.reorder:
            at = max(at, self._link_free.get(link, 0.0))
            self._link_free[link] = at
        self.sent += 1
        loop.call_at(at, self._arrive, src.id, dst, frame)

    def _arrive(self, frm: int, dst: "MemTransport", frame: bytes) -> None:
        if self.endpoints.get(dst.id) is not dst or not dst.up:
            return  # the connection died with the process that was on the other end
        if (frm, dst.id) in self.cut or (self.drop_rate and self.rng.random() < self.drop_rate):
            return
        dst._inbound(frm, frame)


class MemTransport:
    """One node's end: on_frame(kind, payload) gets every inbound frame, on_unreachable(peer) every refusal."""

    def __init__(self, net: Network, node_id: int, peers: dict[int, str]):
        self.net = net
        self.id = node_id
        self.addresses = dict(peers)
        self.on_frame = lambda kind, payload: None
        self.on_unreachable = lambda peer: None
        self.limits: dict[int, int] | None = None  # as Transport.limits: set, they are enforced
        self.refused = 0
        self.up = False
        self.paused = False
        self._held: list[bytes] = []

    async def start(self) -> None:
        self.up = True
        self.net.endpoints[self.id] = self

    async def close(self) -> None:
        self.up = False
        if self.net.endpoints.get(self.id) is self:
            del self.net.endpoints[self.id]

    def add_peer(self, peer_id: int, address: str) -> None:
        self.addresses.setdefault(peer_id, address)

    def remove_peer(self, peer_id: int) -> None:
        self.addresses.pop(peer_id, None)

    def queue_room(self, peer_id: int) -> int:
        return 8192 if peer_id in self.addresses else 0

    def send(self, peer_id: int, kind: int, payload) -> bool:
        if self.limits is not None and kind not in self.limits:
            raise ValueError(f"frame kind {kind} has no size limit; give it one where its owner sets `limits`")
        if not self.up:
            return False
        dst = self.net.endpoints.get(peer_id)
        if peer_id not in self.addresses or dst is None or not dst.up:
            self.on_unreachable(peer_id)
            return False
        if self.net.on_send is not None:
            self.net.on_send(self.id, peer_id, kind, payload)
        f = self.net.filter
        if f is not None and f(self.id, peer_id, kind, payload):
            return True
        self.net._schedule(self, peer_id, msgpack.packb([kind, payload], use_bin_type=True))
        return True

    # --- the receiving side ---------------------------------------------------------
    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        held, self._held = self._held, []
        for frame in held:
            self._handle(frame)

    def _inbound(self, frm: int, frame: bytes) -> None:
        if self.paused:
            self._held.append(frame)
        else:
            self._handle(frame)

    def _handle(self, frame: bytes) -> None:
        kind, payload = msgpack.unpackb(frame, raw=False)
        if self.limits is not None and (kind not in self.limits or len(frame) > self.limits[kind]):
            self.refused += 1  # the real transport drops the connection: a kind nobody owns is a bug
            self.net.errors.append(f"node {self.id}: frame of kind {kind} ({len(frame)} bytes) over its limit "
                                   f"{self.limits.get(kind)}: the real transport would drop the connection")
            return
        self.net.delivered += 1
        self.on_frame(kind, payload)
