"""Closed-loop and fixed-rate HTTP load from several client processes.

Each process runs a few threads, each with its own keep-alive connection
(one request in flight per thread). The threads warm up their connection,
then all start at one wall-clock instant and stop at another, so every
process measures the same window. At a fixed rate, latency is counted from
the moment a request was *due*, not when it was sent, so a slow server
cannot hide its queueing (no coordinated omission). A thread told "not
leader" with the leader's address moves there, as every client of such a
store does (etcd and PySyncObj forward to their leader themselves).
"""
from __future__ import annotations

import json
import multiprocessing
import os
import random
import threading
import time
from array import array
from dataclasses import dataclass

from bench.kv.httpc import Conn, HTTPConnectionError

_CTX = multiprocessing.get_context("fork")


@dataclass
class LoadSpec:
    op: str  # "write" or "read"
    mode: str | None  # read mode
    targets: list[str]  # client addresses; thread i uses targets[i % len]
    concurrency: int = 16
    processes: int = 4
    duration: float = 5.0
    rate: float | None = None  # total requests/s across all threads; None = closed loop
    keys: int = 256
    value_size: int = 100
    tag: str = "r"


@dataclass
class LoadResult:
    ok: int
    errors: int
    latencies: array  # seconds, successful requests only
    window: float
    client_cpu: float  # CPU seconds the client processes used in the window

    @property
    def throughput(self) -> float:
        return self.ok / self.window


def run_load(cluster, spec: LoadSpec) -> LoadResult:
    threads_per = [spec.concurrency // spec.processes + (1 if p < spec.concurrency % spec.processes else 0)
                   for p in range(spec.processes)]
    start_at = time.time() + 0.3 + 0.05 * spec.processes
    pipes, procs = [], []
    first = 0
    for p, n in enumerate(threads_per):
        if n == 0:
            continue
        rx, tx = _CTX.Pipe(duplex=False)
        proc = _CTX.Process(target=_worker, args=(cluster, spec, p, first, n, start_at, tx), daemon=True)
        proc.start()
        tx.close()
        pipes.append(rx)
        procs.append(proc)
        first += n
    ok = errors = 0
    lat = array("d")
    cpu = 0.0
    for rx in pipes:
        o, e, raw, c = rx.recv()
        ok, errors, cpu = ok + o, errors + e, cpu + c
        lat.frombytes(raw)
    for proc in procs:
        proc.join(10)
    return LoadResult(ok, errors, lat, spec.duration, cpu)


def _worker(cluster, spec: LoadSpec, p: int, first: int, n: int, start_at: float, tx) -> None:
    results = []
    threads = [threading.Thread(target=_thread, args=(cluster, spec, first + t, start_at, results))
               for t in range(n)]
    for t in threads:
        t.start()
    delay = start_at - time.time()
    if delay > 0:
        time.sleep(delay)
    c0 = sum(os.times()[:2])
    for t in threads:
        t.join()
    cpu = sum(os.times()[:2]) - c0
    lat = array("d")
    ok = errors = 0
    for o, e, l in results:
        ok, errors = ok + o, errors + e
        lat.extend(l)
    tx.send((ok, errors, lat.tobytes(), cpu))
    tx.close()


def _thread(cluster, spec: LoadSpec, index: int, start_at: float, results: list) -> None:
    rng = random.Random(index)
    conn = Conn(spec.targets[index % len(spec.targets)], timeout=5.0)
    value = "v" * spec.value_size
    seq = 0
    rid_base = f"{spec.tag}{os.getpid()}t{index}"

    def request():
        nonlocal seq
        key = f"k{rng.randrange(spec.keys)}"
        if spec.op == "write":
            seq += 1
            return cluster.write_request(key, value, f"{rid_base}:{seq}")
        return cluster.read_request(key, spec.mode)

    def once() -> bool:
        nonlocal conn
        try:
            code, body = conn.request(*request())
        except HTTPConnectionError:
            time.sleep(0.01)
            return False
        if code == 503:
            # etcd and PySyncObj forward a request that reaches a follower to
            # their leader; the reference KV answers "not leader" with the
            # leader's address instead and its clients go there. Following
            # the hint is that client's half of the same job.
            hint = _leader_hint(body)
            if hint and hint != conn.address:
                conn.close()
                conn = Conn(hint, timeout=5.0)
            elif not hint:
                time.sleep(0.01)  # no leader yet: back off as after a refused connection
        return code == 200

    once()  # connect and warm up outside the window
    lat = array("d")
    ok = errors = 0
    interval = spec.concurrency / spec.rate if spec.rate else 0.0
    end_at = start_at + spec.duration
    now = time.time()
    if now < start_at:
        time.sleep(start_at - now)
    # Threads are staggered within one interval so a fixed rate is smooth, not bursty.
    due = start_at + interval * (index / spec.concurrency)
    while True:
        if interval:
            now = time.time()
            if due >= end_at:
                break
            if due > now:
                time.sleep(due - now)
            t0 = due
            due += interval
        else:
            t0 = time.time()
            if t0 >= end_at:
                break
        good = once()
        t1 = time.time()
        if good:
            ok += 1
            lat.append(t1 - t0)
        else:
            errors += 1
    conn.close()
    results.append((ok, errors, lat))


def _leader_hint(body: bytes) -> str | None:
    try:
        hint = json.loads(body).get("leader_address")
    except (ValueError, AttributeError):
        return None
    return hint if isinstance(hint, str) and ":" in hint else None
