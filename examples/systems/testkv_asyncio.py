"""A `process` client for examples/systems/testkv.py written on asyncio, as a client built on an
asyncio-only library would be: it cannot run inside the suite's gevent-patched interpreter, so
the suite starts it as a process (one per load user) and speaks JSON lines with it
(docs/testing-your-system.md, "A client in any language"). Standard library only.

    [client]
    protocol = "process"
    command = "{python} {here}/testkv_asyncio.py"
"""
import asyncio
import json
import sys
from urllib.parse import quote


class Node:
    """One keep-alive HTTP/1.1 connection to a testkv node, on asyncio streams."""

    def __init__(self, address):
        self.address = address
        self.host, _, port = address.rpartition(":")
        self.port = int(port)
        self.reader = self.writer = None

    async def request(self, method, path, body=None):
        """(status, JSON body). ConnectionRefusedError: nothing was sent; any other error may be after."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        data = b"" if body is None else json.dumps(body).encode()
        try:
            self.writer.write(f"{method} {path} HTTP/1.1\r\nHost: {self.address}\r\nContent-Type: application/json\r\n"
                              f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
            await self.writer.drain()
            head = await self.reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            raw = await self.reader.readexactly(length)
            return status, (json.loads(raw) if raw else None)
        except BaseException:
            self.close()  # a half-read answer leaves the connection unusable
            raise

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = self.reader = None


class Client:
    def __init__(self, init):
        self.nodes = [Node(a) for a in init["endpoints"]]
        self.current = init.get("start", 0)
        self.timeout = float(init.get("timeout", 1.0)) * 0.8  # give up before the suite does

    async def perform(self, op):
        node = self.nodes[self.current % len(self.nodes)]
        path = "/kv/" + quote(op["key"], safe="")
        f = op["f"]
        try:
            if f in ("read", "get"):
                status, body = await asyncio.wait_for(node.request("GET", path), self.timeout)
                if status in (200, 404):
                    return {"type": "ok", "value": body["value"] if status == 200 else None}
            elif f in ("write", "put"):
                status, _ = await asyncio.wait_for(node.request("PUT", path, {"value": op["value"]}), self.timeout)
                if status == 200:
                    return {"type": "ok"}
            elif f == "delete":
                status, _ = await asyncio.wait_for(node.request("DELETE", path), self.timeout)
                if status == 200:
                    return {"type": "ok"}
            elif f == "cas":
                status, _ = await asyncio.wait_for(
                    node.request("POST", path + "/cas", {"expected": op["expected"], "new": op["new"]}), self.timeout)
                if status in (200, 409):
                    return {"type": "ok" if status == 200 else "mismatch"}
            else:
                return {"type": "fail", "error": "unsupported"}  # nothing was sent
        except ConnectionRefusedError:
            self.current += 1  # the next operation tries the next node; no retry loop here
            return {"type": "fail", "error": "refused"}
        except (asyncio.TimeoutError, OSError, asyncio.IncompleteReadError) as e:
            return {"type": "info", "error": type(e).__name__}
        return {"type": "fail" if status < 500 else "info", "error": f"http-{status}"}


async def main():
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    client = None
    while line := await stdin.readline():
        if not line.strip():
            continue
        msg = json.loads(line)
        if msg["type"] == "init":
            client = Client(msg)
            out = {"type": "init_ok"}
        else:
            node = client.nodes[client.current % len(client.nodes)].address  # the node this operation goes to
            out = {"id": msg["id"], **await client.perform(msg), "node": node}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
