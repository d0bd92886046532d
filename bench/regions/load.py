"""Closed-loop writers in separate processes (the client library is blocking and the GIL is one core)."""
from __future__ import annotations

import multiprocessing
import random
import time


def _writer(args) -> tuple[int, int, list[float]]:
    addresses, prefix, keys, value_size, duration, seed, fresh = args
    from reference_kv.client import Client, ClientError

    rng = random.Random(seed)
    value = "v" * value_size
    ok = errors = 0
    lat: list[float] = []
    n = 0
    with Client(addresses, timeout=5) as c:
        end = time.monotonic() + duration
        while time.monotonic() < end:
            # fresh: always a new key (the data grows, Regions keep splitting); else overwrite a key in range
            key = f"{prefix}{seed:02d}-{n:07d}" if fresh else f"{prefix}{rng.randrange(keys):07d}"
            n += 1
            t0 = time.perf_counter()
            try:
                c.put(key, value)
                ok += 1
                lat.append(time.perf_counter() - t0)
            except ClientError:
                errors += 1
    return ok, errors, lat


def run_writers(addresses, prefix: str, writers: int, duration: float, *, keys: int = 10000,
                value_size: int = 256, fresh: bool = False) -> tuple[float, int, list[float]]:
    """-> (acknowledged writes per second, errors, latencies in seconds)."""
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(writers) as pool:
        out = pool.map(_writer, [(addresses, prefix, keys, value_size, duration, s, fresh) for s in range(writers)])
    ok = sum(o for o, _, _ in out)
    return ok / duration, sum(e for _, e, _ in out), [x for _, _, lat in out for x in lat]


def prefill(addresses, prefix: str, keys: int, value_size: int, writers: int = 4) -> None:
    """Write every key once (spread over writers), so Regions exist before the measured load."""
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(writers) as pool:
        pool.map(_fill, [(addresses, prefix, keys, value_size, w, writers) for w in range(writers)])


def _fill(args) -> None:
    addresses, prefix, keys, value_size, w, writers = args
    from reference_kv.client import Client

    with Client(addresses, timeout=10) as c:
        for k in range(w, keys, writers):
            c.put(f"{prefix}{k:07d}", "v" * value_size)
