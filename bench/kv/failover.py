"""Election and client-recovery trials: SIGKILL the leader, time what follows.

Election time: from the SIGKILL to the first poll (every 5 ms, each surviving
node's status endpoint) in which a surviving node reports itself leader of a
newer term. Recovery time (reference KV only, through
`reference_kv.client.Client`): from the SIGKILL to the first write that the
client library completes successfully. The two are measured in the same
trial, by two threads, on the same kill.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

POLL = 0.005


@dataclass
class Trials:
    election: list[float] = field(default_factory=list)
    recovery: list[float] = field(default_factory=list)
    failed: int = 0


def _recover(addresses: list[str], killed_at: list[float], out: list[float], start: threading.Event) -> None:
    from reference_kv.client import Client, ClientError

    with Client(addresses, timeout=10.0) as client:
        client.put("failover", 0)  # warm: the client knows the leader and holds a connection
        start.set()
        while not killed_at:
            time.sleep(0.001)
        i = 1
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                client.put("failover", i)
            except ClientError:
                i += 1
                continue
            out.append(time.monotonic() - killed_at[0])
            return


def trials(cluster, n: int, recovery: bool, log=print, timeout: float = 10.0) -> Trials:
    res = Trials()
    leader = cluster.wait_stable(30)
    for t in range(n):
        # A starved node may have started an election since the last check:
        # kill whoever leads now, and count only a leader of a newer term.
        leader = cluster.wait_stable(30)
        old_term = max((st.get("term") or 0) for st in (cluster.status(i, timeout=0.5) or {} for i in cluster.procs))
        survivors = [i for i in cluster.procs if i != leader]
        killed_at: list[float] = []
        rec: list[float] = []
        thread = None
        if recovery:
            ready = threading.Event()
            thread = threading.Thread(target=_recover, args=([cluster.client[i] for i in cluster.ids], killed_at, rec,
                                                             ready), daemon=True)
            thread.start()
            ready.wait(10)
        t0 = time.monotonic()
        cluster.kill(leader)
        killed_at.append(t0)
        new = None
        while time.monotonic() - t0 < timeout:
            for i in survivors:
                st = cluster.status(i, timeout=0.05)
                if st and st["role"] == "leader" and (st["term"] or 0) > old_term:
                    new = i
                    break
            if new is not None:
                break
            time.sleep(POLL)
        took = time.monotonic() - t0
        if thread is not None:
            thread.join(20)
        if new is None:
            res.failed += 1
            log(f"  {cluster.name} trial {t + 1}: no new leader within {timeout}s")
        else:
            res.election.append(took)
        res.recovery.extend(rec)
        cluster.start(leader)
        leader = cluster.wait_stable(30, settle=0.3)
    return res
