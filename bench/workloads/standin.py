"""A tiny in-memory server that speaks enough of both protocols to aim load at.

It answers the reference KV's client API (`/kv/<key>`, cas, append, `/status`)
and etcd's JSON gateway (`/v3/kv/put|range|deleterange|txn`) from one dict, in
one asyncio thread, so it is linearizable by construction and costs next to
nothing per request: the benchmark measures the load generator against it, and
the tests check that correct histories pass. `--unsafe-stale-reads P` makes
reads return a key's previous value with probability P, a planted bug the
checker must catch.

    python -m bench.workloads.standin --listen 127.0.0.1:7001
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import signal
import sys
from urllib.parse import unquote, urlsplit

MISSING = object()


class Store:
    def __init__(self, stale_reads: float = 0.0, seed: int = 0) -> None:
        self.data: dict[str, tuple[object, int, int]] = {}  # key -> (value, mod_revision, version)
        self.previous: dict[str, object] = {}
        self.revision = 1
        self.stale_reads = stale_reads
        self.rng = random.Random(seed)

    def read(self, key: str) -> object:
        """What a client read sees; the only place the planted stale-read bug acts."""
        if self.stale_reads and key in self.previous and self.rng.random() < self.stale_reads:
            return self.previous[key]
        return self.get(key)

    def get(self, key: str) -> object:
        entry = self.data.get(key)
        return MISSING if entry is None else entry[0]

    def put(self, key: str, value: object) -> None:
        old = self.data.get(key)
        self.previous[key] = MISSING if old is None else old[0]
        self.revision += 1
        self.data[key] = (value, self.revision, (old[2] if old else 0) + 1)

    def delete(self, key: str) -> bool:
        if key not in self.data:
            return False
        self.previous[key] = self.data.pop(key)[0]
        self.revision += 1
        return True


class Handler:
    def __init__(self, store: Store, node_id: int = 1) -> None:
        self.store = store
        self.node_id = node_id

    def handle(self, method: str, target: str, body: bytes) -> tuple[int, object]:
        path = urlsplit(target).path
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            return 400, {"error": "body is not JSON"}
        if path.startswith("/v3/kv/") and method == "POST":
            return self.etcd(path[len("/v3/kv/"):], payload)
        if path.startswith("/kv/"):
            return self.reference_kv(method, unquote(path[len("/kv/"):]), payload)
        if path == "/status":
            return 200, {"id": self.node_id, "role": "leader", "term": 1, "leader": self.node_id,
                         "commit": self.store.revision, "applied": self.store.revision, "snapshot_index": 0,
                         "log_size": 0}
        return 404, {"error": "not found"}

    def reference_kv(self, method: str, key: str, payload: dict) -> tuple[int, object]:
        s = self.store
        if key.endswith("/cas") and method == "POST":
            key = key[:-4]
            current = s.get(key)
            if (None if current is MISSING else current) != payload.get("expected"):
                return 200, {"ok": False}
            s.put(key, payload.get("new"))
            return 200, {"ok": True}
        if key.endswith("/append") and method == "POST":
            key = key[:-7]
            current = s.get(key)
            s.put(key, ("" if current is MISSING else str(current)) + str(payload.get("value", "")))
            return 200, {"ok": True}
        if method == "GET":
            value = s.read(key)
            return 200, {"value": None if value is MISSING else value}
        if method == "PUT":
            s.put(key, payload.get("value"))
            return 200, {"ok": True}
        if method == "DELETE":
            s.delete(key)
            return 200, {"ok": True}
        return 400, {"error": f"unsupported {method} /kv/{key}"}

    def etcd(self, op: str, payload: dict) -> tuple[int, object]:
        s = self.store
        header = {"revision": str(s.revision)}
        key = base64.b64decode(payload.get("key", "")).decode()
        if op == "range":
            value = s.read(key)
            if value is MISSING:
                return 200, {"header": header}
            _, mod, version = s.data.get(key, (None, 0, 0))
            return 200, {"header": header, "count": "1", "kvs": [
                {"key": payload["key"], "value": value, "mod_revision": str(mod), "version": str(version)}]}
        if op == "put":
            s.put(key, payload.get("value", ""))
            return 200, {"header": {"revision": str(s.revision)}}
        if op == "deleterange":
            return 200, {"header": header, "deleted": "1" if s.delete(key) else "0"}
        if op == "txn":
            ok = all(self._compare(c) for c in payload.get("compare", []))
            for request in payload.get("success" if ok else "failure", []) or []:
                put = request.get("request_put")
                if put:
                    s.put(base64.b64decode(put["key"]).decode(), put.get("value", ""))
            reply = {"header": {"revision": str(s.revision)}}
            if ok:
                reply["succeeded"] = True
            return 200, reply
        return 404, {"error": "not found", "code": 5, "message": f"no /v3/kv/{op}"}

    def _compare(self, compare: dict) -> bool:
        key = base64.b64decode(compare.get("key", "")).decode()
        entry = self.store.data.get(key)
        target = compare.get("target", "VALUE")
        if target == "VALUE":
            value = entry[0] if entry else MISSING
            return value is not MISSING and value == compare.get("value")
        field = {"MOD": ("mod_revision", 1), "VERSION": ("version", 2)}[target]
        actual = entry[field[1]] if entry else 0
        return actual == int(compare.get(field[0], 0))


async def _serve_connection(handler: Handler, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            body = await reader.readexactly(length) if length else b""
            status, reply = handler.handle(method, target, body)
            data = json.dumps(reply).encode()
            writer.write(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                         % (status, len(data), data))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def serve(host: str, port: int, stale_reads: float = 0.0, seed: int = 0) -> None:
    handler = Handler(Store(stale_reads, seed))
    server = await asyncio.start_server(lambda r, w: _serve_connection(handler, r, w), host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"listening on {host}:{server.sockets[0].getsockname()[1]}", file=sys.stderr, flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workloads.standin", description=__doc__.split("\n")[0])
    parser.add_argument("--listen", required=True, help="HOST:PORT")
    parser.add_argument("--unsafe-stale-reads", type=float, default=0.0, metavar="P")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    host, sep, port = args.listen.rpartition(":")
    if not sep or not port.isdigit():
        parser.error(f"--listen {args.listen!r} is not HOST:PORT")
    if not 0.0 <= args.unsafe_stale_reads <= 1.0:
        parser.error("--unsafe-stale-reads must be between 0 and 1")
    asyncio.run(serve(host, int(port), args.unsafe_stale_reads, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
