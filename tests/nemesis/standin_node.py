"""A tiny node for testing backends: it dials every peer, sends a heartbeat every 20 ms,
and reports over HTTP how long ago it heard from each peer, so cuts are observable.

Like the reference KV it sends only on connections it dialled and reads only from
connections it accepted. argv: --id ID --listen H:P --peer-listen H:P --peers ID=H:P,... --data-dir D
"""
import argparse
import asyncio
import json
import os
import signal
import time


def hp(s):
    h, p = s.rsplit(":", 1)
    return h, int(p)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--id", required=True)
    ap.add_argument("--listen", required=True)
    ap.add_argument("--peer-listen", required=True)
    ap.add_argument("--peers", required=True)
    ap.add_argument("--data-dir", required=True)
    a = ap.parse_args()
    peers = dict(p.split("=", 1) for p in a.peers.split(","))
    heard: dict[str, float] = {}
    started = time.monotonic()

    async def on_peer(reader, writer):
        try:
            while line := await reader.readline():
                heard[json.loads(line)["from"]] = time.monotonic()
        except (ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    async def dial(pid, addr):
        while True:
            try:
                _, w = await asyncio.wait_for(asyncio.open_connection(*hp(addr)), 1)
                while True:
                    w.write(json.dumps({"from": a.id}).encode() + b"\n")
                    await asyncio.wait_for(w.drain(), 1)
                    await asyncio.sleep(0.02)
            except (OSError, asyncio.TimeoutError):
                await asyncio.sleep(0.05)

    async def on_client(reader, writer):
        try:
            req = await reader.readline()
            while (await reader.readline()).strip():
                pass
            path = req.split()[1].decode()
            now = time.monotonic()
            if path == "/status":
                body = {"id": a.id, "pid": os.getpid(), "uptime": now - started,
                        "heard": {p: now - t for p, t in heard.items()}}
            else:
                body = {"monotonic": now, "time": time.time()}
            data = json.dumps(body).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(data), data))
            await writer.drain()
        finally:
            writer.close()

    await asyncio.start_server(on_peer, *hp(a.peer_listen))
    await asyncio.start_server(on_client, *hp(a.listen))
    for pid, addr in peers.items():
        if pid != a.id:
            asyncio.ensure_future(dial(pid, addr))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    open(os.path.join(a.data_dir, "started"), "a").write(f"{os.getpid()}\n")
    await stop.wait()


asyncio.run(main())
