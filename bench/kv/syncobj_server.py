"""PySyncObj as the Python Raft peer: a 3-replica KV behind the same HTTP front end.

`python -m bench.kv.syncobj_server --id 1 --listen H:P --peers 1=H:P,2=H:P,3=H:P --data-dir D`

The HTTP API is `reference_kv.server.Server` itself (duck-typed node below),
so the peers differ in their Raft and storage, not in request parsing (the
event loop under it is asyncio's here, uvloop in the reference KV; see main).
PySyncObj applies commands on its own tick thread; results come back to the
event loop through `call_soon_threadsafe`. It has no ReadIndex: reads are
answered from the local replica (on the leader for the default mode).
Its journal is an mmap file that is never fsynced per write, so it does
less durable work per write than the reference KV and etcd.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path

from pysyncobj import FAIL_REASON, SyncObj, SyncObjConf, replicated

from reference_kv.server import HTTPError, Server


class KV(SyncObj):
    def __init__(self, me: str, others: list[str], conf: SyncObjConf):
        super().__init__(me, others, conf)
        self._data: dict[str, bytes] = {}

    @replicated
    def put(self, key, value):
        self._data[key] = value
        return True

    @replicated
    def delete(self, key):
        self._data.pop(key, None)
        return True

    @replicated
    def cas(self, key, expected, new):
        if self._data.get(key, b"null") != expected:
            return False
        self._data[key] = new
        return True

    @replicated
    def append(self, key, s):
        old = json.loads(self._data.get(key, b'""'))
        self._data[key] = json.dumps(old + s).encode()
        return True

    def local(self, key):
        return self._data.get(key)


class SyncObjNode:
    """What `reference_kv.server.Server` expects of a node."""

    read_mode = "leader"

    def __init__(self, nid: int, peers: dict[int, str], kv: KV):
        self.id, self.peers, self.kv = nid, peers, kv
        self._by_addr = {a: i for i, a in peers.items()}

    def _leader(self) -> int | None:
        st = self.kv.getStatus()
        leader = st.get("leader")
        return self._by_addr.get(getattr(leader, "address", None) or str(leader)) if leader else None

    async def write(self, op, key, a, b, request_id):
        loop = asyncio.get_running_loop()
        fut = loop.create_future()

        def done(result, err):
            loop.call_soon_threadsafe(_settle, fut, result, err)

        if op == "p":
            self.kv.put(key, a, callback=done)
        elif op == "d":
            self.kv.delete(key, callback=done)
        elif op == "c":
            self.kv.cas(key, a, b, callback=done)
        elif op == "a":
            self.kv.append(key, a, callback=done)
        else:
            raise HTTPError(400, {"error": f"unsupported op {op}"})
        try:
            return await asyncio.wait_for(fut, 3.0)
        except asyncio.TimeoutError:
            raise HTTPError(504, {"error": "timeout"}) from None

    async def read(self, key, mode):
        if mode != "follower" and not self.kv._isLeader():
            raise HTTPError(503, {"error": "not_leader", "leader": self._leader(), "leader_address": None})
        return self.kv.local(key)

    def status(self):
        st = self.kv.getStatus()
        role = {0: "follower", 1: "candidate", 2: "leader"}.get(st.get("state"), "follower")
        return {"id": self.id, "role": role, "term": st.get("raft_term"), "leader": self._leader(),
                "commit": st.get("commit_idx"), "applied": st.get("last_applied")}

    def metric_families(self):
        return []  # /metrics shows the process's own collectors only


def _settle(fut, result, err):
    if fut.done():
        return
    if err == FAIL_REASON.SUCCESS:
        fut.set_result(result)
    elif err in (FAIL_REASON.NOT_LEADER, FAIL_REASON.MISSING_LEADER):
        fut.set_exception(HTTPError(503, {"error": "not_leader", "leader": None, "leader_address": None}))
    else:
        fut.set_exception(HTTPError(504, {"error": f"pysyncobj failure {err}"}))


TIMINGS = {
    # Comparable to the reference KV's 10 ms tick and 100-200 ms election timeout.
    "fast": dict(raftMinTimeout=0.1, raftMaxTimeout=0.2, appendEntriesPeriod=0.01, autoTickPeriod=0.005),
    "default": {},
}


async def _serve(args) -> int:
    peers = {}
    for item in args.peers.split(","):
        i, _, a = item.partition("=")
        peers[int(i)] = a
    me = peers[args.id]
    data = Path(args.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    conf = SyncObjConf(journalFile=str(data / "journal"), fullDumpFile=str(data / "dump"),
                       dynamicMembershipChange=False, **TIMINGS[args.timing])
    kv = KV(me, [a for i, a in sorted(peers.items()) if i != args.id], conf)
    host, _, port = args.listen.rpartition(":")
    server = Server(SyncObjNode(args.id, peers, kv), host, int(port))
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.close()
    kv.destroy()
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.kv.syncobj_server")
    p.add_argument("--id", type=int, required=True)
    p.add_argument("--listen", required=True)
    p.add_argument("--peers", required=True, help="ID=HOST:PORT,... Raft addresses of all replicas")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--timing", choices=sorted(TIMINGS), default="fast")
    # asyncio's own loop, not the uvloop the reference KV's nodes run on:
    # under uvloop this process's PySyncObj lost leadership between two
    # requests in 3 of 5 runs of tests/kv/test_bench_kv.py (0 of 4 on asyncio).
    return asyncio.run(_serve(p.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
