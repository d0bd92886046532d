"""A single-node HTTP/JSON KV, written for the tests, that acknowledges writes before they
are durable: every change is appended to a log in its data directory and replayed at
start, but the log is never fsynced. A kill keeps everything (the page cache survives);
a power loss (the suite's FUSE power-loss fault) loses everything acknowledged.

    python forgetful_kv.py --listen HOST:PORT --data DIR

Routes as examples/systems/testkv.py, so the same http-json client spec speaks to it.
"""
import argparse
import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

DATA: dict = {}
LOCK = threading.Lock()
LOG = None


def apply(change):
    key, value = change
    if value is None:
        DATA.pop(key, None)
    else:
        DATA[key] = value


def change(key, value):
    """Applied and logged (not synced: the bug), under LOCK."""
    apply((key, value))
    LOG.write(json.dumps([key, value]) + "\n")
    LOG.flush()  # to the OS, never to the disk


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")

    def key(self, suffix=""):
        path = self.path.split("?", 1)[0]
        if not path.startswith("/kv/") or not path.endswith(suffix):
            return None
        return unquote(path[len("/kv/"):len(path) - len(suffix)])

    def do_GET(self):
        if self.path == "/health":
            return self.reply(200, {"ok": True})
        key = self.key()
        with LOCK:
            if key not in DATA:
                return self.reply(404, {"error": "absent"})
            return self.reply(200, {"value": DATA[key]})

    def do_PUT(self):
        key, body = self.key(), self.body()
        with LOCK:
            change(key, body["value"])
        self.reply(200, {"ok": True})

    def do_DELETE(self):
        key = self.key()
        with LOCK:
            change(key, None)
        self.reply(200, {"ok": True})

    def do_POST(self):
        key, body = self.key("/cas"), self.body()
        with LOCK:
            if DATA.get(key) != body["expected"]:
                return self.reply(409, {"ok": False})
            change(key, body["new"])
        self.reply(200, {"ok": True})


def main():
    global LOG
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--listen", required=True)
    p.add_argument("--data", required=True)
    args = p.parse_args()
    os.makedirs(args.data, exist_ok=True)
    path = os.path.join(args.data, "log.jsonl")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.strip():
                    apply(json.loads(line))
    LOG = open(path, "a")
    host, _, port = args.listen.rpartition(":")
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True
    print(f"listening on {host}:{port} with {len(DATA)} keys", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
