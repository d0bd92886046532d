"""A single-node HTTP/JSON KV, written for the tests, that acknowledges writes before they
are durable: examples/systems/testkv.py (its routes and handler), with every change appended
to a log in its data directory and replayed at start, but the log never fsynced. A kill
keeps everything (the page cache survives); a power loss (the suite's FUSE power-loss
fault) loses everything acknowledged.

    python forgetful_kv.py --listen HOST:PORT --data DIR
"""
import argparse
import json
import os
import pathlib
import sys
from http.server import ThreadingHTTPServer

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "examples" / "systems"))
import testkv  # noqa: E402


class LoggedDict(dict):
    """testkv's data: every change applied, then written to the log (flushed to the OS, never synced:
    the bug). testkv's handler changes it under its lock."""

    def __init__(self, log):
        super().__init__()
        self.log = log

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        self._logged(key, value)

    def pop(self, key, *default):
        out = super().pop(key, *default)
        self._logged(key, None)
        return out

    def _logged(self, key, value):
        if self.log is not None:
            self.log.write(json.dumps([key, value]) + "\n")
            self.log.flush()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--listen", required=True)
    p.add_argument("--data", required=True)
    args = p.parse_args()
    os.makedirs(args.data, exist_ok=True)
    path = os.path.join(args.data, "log.jsonl")
    data = LoggedDict(None)
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.strip():
                    key, value = json.loads(line)
                    data[key] = value
                    if value is None:
                        data.pop(key)
    data.log = open(path, "a")
    testkv.DATA = data
    host, _, port = args.listen.rpartition(":")
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer((host, int(port)), testkv.Handler)
    server.daemon_threads = True
    print(f"listening on {host}:{port} with {len(data)} keys", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
