"""Register clients over the Region store, recording a history the checker reads."""
from __future__ import annotations

import random
import threading
import time

from reference_kv.client import Client, DefiniteError, IndeterminateError


def register_workers(addresses, keys, stop: list, history: list, n: int = 4, pace: float = 0.0):
    """n threads (not started) doing read/write/cas on keys until time.monotonic() >= stop[0]."""
    lock = threading.Lock()
    proc_ids = iter(range(10**6))

    def record(**ev):
        ev["time"] = time.monotonic_ns()
        with lock:
            history.append(ev)

    def worker(seed):
        rng = random.Random(seed)
        proc = next(proc_ids)
        cl = Client(addresses, timeout=2, attempt_timeout=0.5)
        while time.monotonic() < stop[0]:
            key = rng.choice(keys)
            f = rng.choice(("read", "write", "cas"))
            v = rng.randrange(5) if f == "write" else [rng.randrange(5), rng.randrange(5)] if f == "cas" else None
            record(process=proc, type="invoke", f=f, key=key, value=v)
            try:
                if f == "read":
                    record(process=proc, type="ok", f=f, key=key, value=cl.get(key))
                elif f == "write":
                    cl.put(key, v)
                    record(process=proc, type="ok", f=f, key=key, value=v)
                else:
                    record(process=proc, type="ok" if cl.cas(key, *v) else "fail", f=f, key=key, value=v)
            except DefiniteError as e:
                record(process=proc, type="fail", f=f, key=key, value=v, error=str(e)[:80])
            except IndeterminateError as e:
                # Outcome unknown: this process stays open forever, the client goes on as a new one.
                record(process=proc, type="info", f=f, key=key, value=v, error=str(e)[:80])
                proc = next(proc_ids)
                cl.close()
                cl = Client(addresses, timeout=2, attempt_timeout=0.5)
            if pace:
                time.sleep(pace)
        cl.close()

    return [threading.Thread(target=worker, args=(s,)) for s in range(n)]
