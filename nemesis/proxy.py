"""Per-link TCP proxies in their own asyncio process, driven over a Unix control socket.

One listener per directed link i->j: node i dials it, it forwards to node j's peer
port. The suite process may be gevent-patched by Locust, so the proxies never run
inside it; `ProxyClient` speaks to them with plain blocking sockets.

A cut imitates a real partition. In the default mode "stall" bytes stop moving in
both directions of the link's connections (nothing is read or written, so the
sender's buffers fill as they would with no ACKs) and new connections are held
without reaching the target; on heal the held bytes flow on, like TCP
retransmission after a partition that did not outlast the connection. Mode
"reset" aborts the link's connections and refuses new ones instead (a partition
that outlived TCP's timeouts). Bytes are never dropped from the middle of a
stream: no real network can do that to TCP.

Loss cannot drop bytes from a TCP stream either, so a "lost" chunk is delivered
late by `retransmit` seconds (doubling on consecutive losses), which is what a
lost segment costs a TCP application. Delay holds every chunk for a fixed time.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import sys
import threading
import time

CHUNK = 65536
QUEUE_CHUNKS = 32


class Link:
    def __init__(self, name: str, target: tuple[str, int], seed: int):
        self.name = name
        self.target = target
        self.open = asyncio.Event()
        self.open.set()
        self.mode = "stall"
        self.loss = 0.0
        self.delay = 0.0
        self.retransmit = 0.2
        self.rng = random.Random(seed)
        self.writers: set[asyncio.StreamWriter] = set()
        self.bytes = 0
        self.connections = 0
        self.server: asyncio.base_events.Server | None = None

    @property
    def cut(self) -> bool:
        return not self.open.is_set()

    def set(self, cut: bool | None = None, mode: str | None = None, loss: float | None = None,
            delay: float | None = None, retransmit: float | None = None) -> None:
        if mode is not None:
            if mode not in ("stall", "reset"):
                raise ValueError(f"unknown cut mode {mode!r}")
            self.mode = mode
        if loss is not None:
            self.loss = float(loss)
        if delay is not None:
            self.delay = float(delay)
        if retransmit is not None:
            self.retransmit = float(retransmit)
        if cut is True:
            self.open.clear()
            if self.mode == "reset":
                for w in list(self.writers):
                    w.transport.abort()
        elif cut is False:
            self.open.set()

    async def handle(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.add(cwriter)
        uwriter = None
        try:
            if self.cut and self.mode == "reset":
                return
            await self.open.wait()
            try:
                ureader, uwriter = await asyncio.open_connection(*self.target)
            except OSError:
                return
            self.writers.add(uwriter)
            await asyncio.gather(self.pump(creader, uwriter), self.pump(ureader, cwriter),
                                 return_exceptions=True)
        finally:
            for w in (cwriter, uwriter):
                if w is not None:
                    self.writers.discard(w)
                    w.transport.abort()

    async def pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue = asyncio.Queue(QUEUE_CHUNKS)
        loop = asyncio.get_running_loop()

        async def read_side() -> None:
            last = 0.0
            penalty = self.retransmit
            try:
                while True:
                    await self.open.wait()
                    data = await reader.read(CHUNK)
                    if not data:
                        break
                    due = loop.time() + self.delay
                    if self.loss and self.rng.random() < self.loss:
                        due += penalty
                        penalty *= 2
                    else:
                        penalty = self.retransmit
                    last = max(last, due)
                    await queue.put((last, data))
            finally:
                await queue.put((0.0, b""))

        async def write_side() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                while True:
                    await self.open.wait()
                    wait = due - loop.time()
                    if wait <= 0:
                        break
                    await asyncio.sleep(min(wait, 0.05))
                writer.write(data)
                self.bytes += len(data)
                await writer.drain()

        rtask = asyncio.ensure_future(read_side())
        try:
            await write_side()
        finally:
            rtask.cancel()
            writer.transport.abort()


class ProxyServer:
    def __init__(self, seed: int):
        self.links: dict[str, Link] = {}
        self.seed = seed

    async def command(self, req: dict) -> dict:
        op = req.get("op")
        if op == "ping":
            return {"ok": True}
        if op == "add":
            name = req["link"]
            host, port = req["target"]
            link = Link(name, (host, int(port)), hash((self.seed, name)) & 0xFFFFFFFF)
            link.server = await asyncio.start_server(link.handle, req["listen"], req.get("port", 0))
            self.links[name] = link
            return {"ok": True, "port": link.server.sockets[0].getsockname()[1]}
        if op == "set":
            self.links[req["link"]].set(**{k: req[k] for k in ("cut", "mode", "loss", "delay", "retransmit")
                                           if k in req})
            return {"ok": True}
        if op == "reset":
            for link in self.links.values():
                link.set(cut=False, loss=0.0, delay=0.0)
            return {"ok": True}
        if op == "stats":
            return {"ok": True, "links": {n: {"cut": l.cut, "loss": l.loss, "delay": l.delay,
                                              "bytes": l.bytes, "connections": l.connections}
                                          for n, l in self.links.items()}}
        return {"ok": False, "error": f"unknown op {op!r}"}

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    resp = await self.command(json.loads(line))
                except Exception as e:  # a bad command must not take the proxies down
                    resp = {"ok": False, "error": f"{type(e).__name__}: {e}"}
                writer.write(json.dumps(resp).encode() + b"\n")
                await writer.drain()
        finally:
            writer.close()


async def serve(control_path: str, seed: int) -> None:
    server = ProxyServer(seed)
    await asyncio.start_unix_server(server.control, control_path)
    loop = asyncio.get_running_loop()
    gone = loop.create_future()

    def watch_parent() -> None:
        # stdin is a pipe from the nemesis: EOF means it died, and the proxies must not outlive it.
        sys.stdin.buffer.read()
        loop.call_soon_threadsafe(lambda: gone.done() or gone.set_result(None))

    threading.Thread(target=watch_parent, daemon=True).start()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    await gone


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m nemesis.proxy")
    p.add_argument("--control", required=True)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    asyncio.run(serve(a.control, a.seed))


class ProxyClient:
    """Blocking client of the proxy process (safe under gevent: plain sockets, one lock)."""

    def __init__(self, control_path: str, timeout: float = 10.0):
        self.path = control_path
        self.timeout = timeout
        self.lock = threading.Lock()
        self.sock: socket.socket | None = None
        self.buf = b""

    def call(self, **req) -> dict:
        with self.lock:
            if self.sock is None:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(self.timeout)
                self.sock.connect(self.path)
            self.sock.sendall(json.dumps(req).encode() + b"\n")
            while b"\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("proxy process closed its control socket")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\n", 1)
        resp = json.loads(line)
        if not resp.get("ok"):
            raise RuntimeError(f"proxy: {resp.get('error')}")
        return resp

    def close(self) -> None:
        with self.lock:
            if self.sock is not None:
                self.sock.close()
                self.sock = None


def wait_ready(proc, deadline_s: float = 10.0) -> None:
    end = time.monotonic() + deadline_s
    line = proc.stdout.readline()
    if line.strip() != b"ready" or time.monotonic() > end:
        raise RuntimeError(f"proxy process did not start: {line!r}")


if __name__ == "__main__":
    main()
