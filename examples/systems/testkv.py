"""A tiny single-process HTTP/JSON key-value store: the running example of
docs/testing-your-system.md. Correct by construction: one lock serializes every
request, so its history is linearizable.

    python3 testkv.py --listen 127.0.0.1:8080

    GET    /kv/<key>        200 {"value": v} | 404 {"error": "absent"}
    PUT    /kv/<key>        {"value": v}                     -> 200 {"ok": true}
    DELETE /kv/<key>                                         -> 200 {"ok": true}
    POST   /kv/<key>/cas    {"expected": e, "new": n}        -> 200 {"ok": true} | 409 {"ok": false}
    GET    /health                                           -> 200 {"ok": true}

Standard library only, so any Python 3 runs it; stands in for a store written in any language.
"""
import argparse
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

DATA: dict = {}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the load generator reuses connections

    def setup(self):
        super().setup()
        # headers and body go out in two writes: without this, delayed ACKs add 40 ms per request
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):  # quiet: one line per request would drown the node log
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
        if key is None:
            return self.reply(404, {"error": "no such route"})
        with LOCK:
            if key not in DATA:
                return self.reply(404, {"error": "absent"})
            return self.reply(200, {"value": DATA[key]})

    def do_PUT(self):
        key, body = self.key(), self.body()
        with LOCK:
            DATA[key] = body["value"]
        self.reply(200, {"ok": True})

    def do_DELETE(self):
        key = self.key()
        with LOCK:
            DATA.pop(key, None)
        self.reply(200, {"ok": True})

    def do_POST(self):
        key, body = self.key("/cas"), self.body()
        if key is None:
            return self.reply(404, {"error": "no such route"})
        with LOCK:
            if DATA.get(key) != body["expected"]:
                return self.reply(409, {"ok": False})
            DATA[key] = body["new"]
        self.reply(200, {"ok": True})


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--listen", required=True, help="host:port")
    host, _, port = p.parse_args().listen.rpartition(":")
    ThreadingHTTPServer.request_queue_size = 128  # the default 5 drops connects under 10+ clients
    server = ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True
    print(f"listening on {host}:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
