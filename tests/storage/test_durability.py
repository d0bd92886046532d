"""Crash durability with a real process killed by SIGKILL, and no leaks over many calls."""
from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict

import pytest

from reference_kv.storage.pebble import PebbleDB

from .crash_writer import KEYS_PER_BATCH

pytestmark = pytest.mark.integration


def test_acknowledged_synced_batches_survive_sigkill(tmp_path, repo_root):
    path = tmp_path / "db"
    # Load the shim once here, so the child never has to build it.
    PebbleDB(tmp_path / "warm").close()
    child = subprocess.Popen([sys.executable, "-m", "tests.storage.crash_writer", str(path), "1000000"],
                             cwd=repo_root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    acked = -1
    try:
        deadline = time.monotonic() + 60
        while acked < 200 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            acked = int(line.split()[1])
        assert acked >= 200, f"writer acknowledged only {acked + 1} batches: {child.stderr.read()[-2000:]}"
        child.send_signal(signal.SIGKILL)  # mid-stream: it is writing batch acked+1 or later
        child.wait(30)
        # Acks printed after the last read but before the kill count too; read
        # through the same buffered reader (communicate() would skip its buffer).
        rest = child.stdout.read()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()
    for line in rest.splitlines():
        if line.startswith("ack "):
            acked = int(line.split()[1])
    assert child.returncode == -signal.SIGKILL

    db = PebbleDB(path)
    try:
        keys = defaultdict(set)
        for k, v in db.iterate():
            n, i = k[1:].split(b"-")
            keys[int(n)].add(int(i))
            assert v == b"batch %d " % int(n) * 20
    finally:
        db.close()
    for n in range(acked + 1):
        assert keys.get(n) == set(range(KEYS_PER_BATCH)), f"acknowledged batch {n} lost or partial"
    for n, present in keys.items():
        assert present == set(range(KEYS_PER_BATCH)), f"batch {n} is partial after the crash"
    assert max(keys) <= acked + 1  # at most the batch in flight, whole


def _rss_bytes() -> int:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_many_calls_keep_rss_flat(pebble_db):
    pebble_db.write_many([(b"k%05d" % i, b"v" * 100) for i in range(1000)])
    pebble_db.flush()

    def loop(n):
        for i in range(n):
            pebble_db.get(b"k%05d" % (i % 1000))
            pebble_db.get(b"absent")
            for _ in pebble_db.iterate(lower=b"k%05d" % (i % 990), limit=5):
                pass
            if i % 1000 == 0:
                pebble_db.get_many([b"k00001", b"k00002"])
                pebble_db.metrics()

    loop(20_000)  # warm-up: caches, arenas and the Go heap reach their working size
    gc.collect()
    before = _rss_bytes()
    loop(100_000)
    gc.collect()
    grown = _rss_bytes() - before
    # A leak of even one small allocation per call would be >= 3 MB here.
    assert grown < 3 * 1024 * 1024, f"RSS grew by {grown / 1e6:.1f} MB over 100k calls"
