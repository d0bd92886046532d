"""Synthetic histories for testing checkers: a simulated linearizable store
under concurrent clients, optionally with planted anomalies.

Each client (process) thinks, invokes, and completes; its op takes effect
atomically at one instant inside [call, return] (a linearizable store), so
with `anomaly=None` the history is linearizable by construction. Realistic
trouble is simulated too: definite failures (`fail` with an error, never
applied), timeouts (`info`, applied or not, possibly after the timeout) and
crashes (the op never completes); a process that saw info is retired and a
fresh process id takes its place, as in Jepsen. Planted anomalies break
linearizability at a few ops (most of the time: a planted stale read that
happens to overlap the right write is still linearizable):

- `stale-read`: a read returns a value the key held earlier, not its current one;
- `lost-write`: a write/put/append (or successful cas) is acknowledged but never applied;
- `duplicate-append`: an append takes effect twice (kv);
- `phantom-read`: a read returns a value nobody wrote;
- `cas-lie`: a cas reports success though its comparison failed (cas-register).

    events = generate(Spec(model="kv", ops=500, processes=20), seed=7)
"""
from __future__ import annotations

import heapq
import random
from dataclasses import dataclass

ANOMALIES = ("stale-read", "lost-write", "duplicate-append", "phantom-read", "cas-lie")
_MIXES = {
    "cas-register": (("read", 40), ("write", 25), ("cas", 30), ("delete", 5)),
    "kv": (("get", 40), ("put", 10), ("append", 48), ("delete", 2)),
}


@dataclass(frozen=True)
class Spec:
    model: str = "cas-register"  # or "kv"
    ops: int = 200  # invocations in all
    processes: int = 5  # concurrent clients
    keys: int = 3
    values: int = 5  # register values are drawn from range(values); 0 = every write unique
    p_fail: float = 0.05  # definite failure (with an error), never applied
    p_info: float = 0.05  # timeout: outcome unknown, applied with probability 1/2
    p_crash: float = 0.02  # the client dies mid-op: no completion at all
    latency_ns: int = 1_000_000  # mean op duration
    think_ns: int = 300_000  # mean pause between a client's ops
    anomaly: str | None = None
    anomalies: int = 1  # how many ops get the anomaly
    nemesis: bool = True  # sprinkle nemesis events (ignored by checkers)
    mix: tuple | None = None  # ((f, weight), ...) instead of the model's default mix
    recent: bool = False  # a cas expects one of the key's last few values (more comparisons fail)

    def __post_init__(self):
        if self.mix is not None and not all(f in dict(_MIXES[self.model]) for f, _ in self.mix):
            raise ValueError(f"mix {self.mix!r} has operations {self.model} does not")
        if self.model not in _MIXES:
            raise ValueError(f"unknown model {self.model!r}")
        if self.anomaly is not None and self.anomaly not in ANOMALIES:
            raise ValueError(f"unknown anomaly {self.anomaly!r} ({', '.join(ANOMALIES)})")


class _Sim:
    def __init__(self, spec: Spec, rng: random.Random):
        self.spec, self.rng = spec, rng
        self.kv = spec.model == "kv"
        self.state: dict = {}
        self.past: dict = {}  # key -> values it held before, oldest first
        self.unique = 0
        self.fns, self.weights = zip(*(spec.mix or _MIXES[spec.model]))
        self.keys = [f"k{i}" if self.kv else i for i in range(spec.keys)]

    def current(self, key):
        return self.state.get(key, "" if self.kv else None)

    def set(self, key, value):
        self.past.setdefault(key, []).append(self.current(key))
        self.state[key] = value

    def fresh(self):
        self.unique += 1
        return self.unique

    def value(self):
        if self.kv:
            return f"{self.fresh()}."
        if self.spec.values:
            return self.rng.randrange(self.spec.values)
        return self.fresh()

    def args(self, f, key):
        """The invoke's value, chosen at call time (cas usually expects what is there now)."""
        if f in ("read", "get", "delete"):
            return None
        if f == "cas":
            cur = self.current(key)
            if self.spec.recent:
                pool = [cur] + self.past.get(key, [])[-3:]
                return [self.rng.choice(pool), self.value()]
            expected = cur if cur is not None and self.rng.random() < 0.6 else self.value()
            return [expected, self.value()]
        return self.value()

    def apply(self, f, key, value):
        """Takes effect now; returns (status, result) as the store would answer."""
        if f in ("read", "get"):
            return "ok", self.current(key)
        if f == "write" or f == "put":
            self.set(key, value)
        elif f == "delete":
            self.set(key, "" if self.kv else None)
        elif f == "append":
            self.set(key, self.current(key) + value)
        elif f == "cas":
            if self.current(key) != value[0]:
                return "fail", value
            self.set(key, value[1])
        return "ok", value

    def anomalous(self, kind, f, key, value):
        """The planted misbehaviour, if it fits this op; None if it does not."""
        if kind == "stale-read" and f in ("read", "get"):
            cur = self.current(key)
            older = [v for v in self.past.get(key, []) if v != cur]
            return ("ok", self.rng.choice(older[-3:])) if older else None
        if kind == "phantom-read" and f in ("read", "get"):
            return "ok", f"ghost{self.fresh()}." if self.kv else -self.fresh()
        if kind == "lost-write" and f in ("write", "put", "append"):
            return "ok", value  # acknowledged, not applied
        if kind == "lost-write" and f == "cas" and self.current(key) == value[0]:
            return "ok", value
        if kind == "duplicate-append" and f == "append":
            self.apply(f, key, value)
            return self.apply(f, key, value)
        if kind == "cas-lie" and f == "cas" and self.current(key) != value[0]:
            return "ok", value
        return None


def generate(spec: Spec, seed: int = 0) -> list[dict]:
    """A history (event dicts of DESIGN.md's JSONL, in time order) following `spec`."""
    rng = random.Random(seed)
    sim = _Sim(spec, rng)
    # Anomalies go to ops in the second half, once keys have a past.
    planted = set(rng.sample(range(spec.ops // 2, spec.ops), min(spec.anomalies, spec.ops - spec.ops // 2))) \
        if spec.anomaly else set()
    events: list[dict] = []
    heap: list = []  # (time, order, seq, action, payload); at one instant effects precede completions
    seq = 0
    t0 = 1_000_000_000_000

    def push(t, order, action, payload):
        nonlocal seq
        seq += 1
        heapq.heappush(heap, (t, order, seq, action, payload))

    def think(t):
        return t + int(rng.expovariate(1 / spec.think_ns)) + 1

    next_proc = spec.processes
    for p in range(spec.processes):
        push(think(t0), 2, "invoke", p)
    invoked = 0
    owed = 0
    while heap:
        t, _, _, action, payload = heapq.heappop(heap)
        if action == "invoke":
            if invoked >= spec.ops:
                continue
            proc = payload
            f = rng.choices(sim.fns, sim.weights)[0]
            key = rng.choice(sim.keys)
            value = sim.args(f, key)
            events.append({"process": proc, "type": "invoke", "f": f, "key": key, "value": value, "time": t})
            op = {"process": proc, "f": f, "key": key, "value": value, "planted": invoked in planted}
            invoked += 1
            dur = int(rng.expovariate(1 / spec.latency_ns)) + 1
            r = rng.random()
            if r < spec.p_fail:
                push(t + dur, 1, "complete", (op, "fail", None, "not_leader"))
            elif r < spec.p_fail + spec.p_info + spec.p_crash:
                crash = r >= spec.p_fail + spec.p_info
                if rng.random() < 0.5:  # it did happen, maybe after the client gave up
                    push(t + rng.randint(0, 4 * dur), 0, "effect", (op, None))
                if not crash:
                    push(t + 2 * dur, 1, "complete", (op, "info", None, "timeout"))
                # The client is gone or gave up: a fresh process takes the slot.
                push(think(t + 2 * dur), 2, "invoke", next_proc)
                next_proc += 1
            else:
                push(t + rng.randint(0, dur), 0, "effect", (op, t + dur))
            if spec.nemesis and rng.random() < 0.01:
                events.append({"process": "nemesis", "type": "info", "f": rng.choice(["partition", "heal", "kill"]),
                               "value": None, "time": t})
        elif action == "effect":
            op, ret = payload
            res = None
            owed += op["planted"]
            # Planted on an op it does not fit (a stale *write*?), an anomaly
            # goes to the next acknowledged op it fits.
            if owed and ret is not None:
                res = sim.anomalous(spec.anomaly, op["f"], op["key"], op["value"])
                owed -= res is not None
            if res is None:
                res = sim.apply(op["f"], op["key"], op["value"])
            if ret is not None:
                status, result = res
                push(ret, 1, "complete", (op, status, result, None))
        else:  # complete
            op, status, result, error = payload
            ev = {"process": op["process"], "type": status, "f": op["f"], "key": op["key"],
                  "value": result if op["f"] in ("read", "get") else op["value"], "time": t}
            if op["f"] in ("read", "get") and status != "ok":
                ev["value"] = None
            if error is not None:
                ev["error"] = error
            events.append(ev)
            if status in ("ok", "fail"):
                push(think(t), 2, "invoke", op["process"])
    return events


UNIQUE_MIX = (("read", 40), ("write", 25), ("cas", 35))
KV_GET_APPEND = (("get", 50), ("append", 50))


def unique_history(seed: int, ops: int = 12, processes: int = 4) -> list[dict]:
    """A small single-key register history whose writes are unique but whose
    reads, cas expectations, statuses and times are drawn at random: mostly not
    linearizable, rich in failed and indeterminate cas that overlap the zones
    of the values they name (the hard cases of checker/unique.py)."""
    rng = random.Random(seed)
    written = [None]
    events, t, nxt = [], 0, 0
    live = {}  # process -> op
    procs = list(range(processes))
    pid = processes
    while nxt < ops or live:
        t += rng.randint(1, 3)
        p = rng.choice(procs)
        if p in live:
            op = live.pop(p)
            r = rng.random()
            if op["f"] == "read":
                typ = "ok" if r < 0.85 else "info"
                value = rng.choice(written) if typ == "ok" else None
            else:
                typ = "ok" if r < 0.55 else "fail" if r < 0.8 and op["f"] == "cas" else "info"
                value = op["value"]
            if typ == "info" and rng.random() < 0.4:
                procs.remove(p)  # crashed: never completes
                procs.append(pid)
                pid += 1
                continue
            events.append({"process": p, "type": typ, "f": op["f"], "key": "k", "value": value, "time": t})
            if typ == "info":
                procs.remove(p)
                procs.append(pid)
                pid += 1
        elif nxt < ops:
            f = rng.choice(["read", "read", "write", "cas", "cas"])
            nxt += 1
            if f == "read":
                v = None
            elif f == "write":
                v = nxt * 10
                written.append(v)
            else:
                v = [rng.choice(written), nxt * 10]
                written.append(nxt * 10)
            live[p] = {"f": f, "value": v}
            events.append({"process": p, "type": "invoke", "f": f, "key": "k", "value": v, "time": t})
    return events


def crowd(writers: int, readers: int, repeat: int | None = None, read=lambda p: (p * 7) % 14) -> list[dict]:
    """Every writer invoked, then every reader, all reads returning, then all
    writes: one big concurrent burst whose reads rarely match (a huge search
    space). Writer p writes p (or p % repeat: values written more than once,
    which only the search decides); reader p returns read(p)."""
    ev, t = [], 0
    for p in range(writers):
        t += 1
        ev.append({"process": p, "type": "invoke", "f": "write", "key": "k", "value": p % (repeat or writers + 1),
                   "time": t})
    for p in range(writers, writers + readers):
        t += 1
        ev.append({"process": p, "type": "invoke", "f": "read", "key": "k", "time": t})
    for p in range(writers, writers + readers):
        t += 1
        ev.append({"process": p, "type": "ok", "f": "read", "key": "k", "value": read(p), "time": t})
    for p in range(writers):
        t += 1
        ev.append({"process": p, "type": "ok", "f": "write", "key": "k", "value": p % (repeat or writers + 1),
                   "time": t})
    return ev


def plant_stale_read(events: list[dict], at: float = 0.6, process: int = 10**6) -> list[dict]:
    """`events` with one read inserted about `at` of the way through that returns
    a value certainly overwritten: its write completed before a later write was
    called, and that later write completed before the read is called. Such a
    read is a violation in any history (unlike the `stale-read` anomaly, which
    a concurrent write may still explain)."""
    pos = int(len(events) * at)
    t = events[pos]["time"]
    calls, done = {}, []  # (value, call, ret, key) of completed ok writes before t
    for ev in events[:pos]:
        if ev["process"] == "nemesis" or ev["f"] != "write":
            continue
        if ev["type"] == "invoke":
            calls[ev["process"]] = ev["time"]
        elif ev["type"] == "ok":
            done.append((ev["value"], calls[ev["process"]], ev["time"], ev["key"]))
    for b in reversed(done):
        older = [a for a in done if a[2] < b[1] and a[3] == b[3] and a[0] != b[0]]
        if older:
            a = older[-1]
            read = {"process": process, "f": "read", "key": a[3], "time": t}
            return events[:pos] + [dict(read, type="invoke", value=None), dict(read, type="ok", value=a[0])] + events[pos:]
    raise ValueError("no two completed writes to plant a stale read between")


def dumps(events: list[dict]) -> str:
    """JSONL text of `events`."""
    import json

    return "".join(json.dumps(ev, separators=(",", ":")) + "\n" for ev in events)
