"""A minimal asyncio HTTP/JSON POST, for a store asking the meta leader (one request per connection)."""
from __future__ import annotations

import asyncio
import json

from reference_kv.transport import split_hostport


async def post_json(address: str, path: str, body: dict, timeout: float) -> tuple[int, dict]:
    host, port = split_hostport(address)

    async def go():
        reader, writer = await asyncio.open_connection(host, port)
        try:
            data = json.dumps(body).encode()
            writer.write(f"POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
            await writer.drain()
            raw = await reader.read()
        finally:
            writer.close()
        head, _, payload = raw.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        return status, json.loads(payload) if payload else {}

    return await asyncio.wait_for(go(), timeout)
