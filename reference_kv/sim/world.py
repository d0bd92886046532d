"""One seeded world: the real nodes (or Region stores) under a fault schedule, with clients and
invariants, on virtual time. `splitbrain simulate` runs many; a test runs one.

    schedule = plan(seed, regions=False)          # the faults a seed draws
    outcome = simulate(seed, schedule, regions=False, root=tmpdir)
    outcome.history    # JSONL events (DESIGN.md's history format), times in virtual ns
    outcome.trace      # what happened: faults, leaders, invariant breaches
    outcome.violations # invariant breaches seen while it ran (the history is checked by the suite)

One seed gives one world: the schedule, the network's delays, every node's randomness and the
clients' choices are drawn from it. A schedule may be given instead of drawn (a replay, or a
shrunk schedule): the world's other draws do not depend on it.
"""
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import random
import time
from pathlib import Path

from reference_kv import errors, readmodes
from reference_kv.raft.types import MsgType, Role
from reference_kv.regions.layout import META_REGION
from reference_kv.sim.cluster import SimCluster
from reference_kv.sim.loop import Deadlock, run
from reference_kv.transport import RAFT

# The faults a world draws: the one declaration (the CLI's help and the trace name them from here).
FAULTS = {
    "crash": "kill -9 and power loss (unsynced writes lost but for a prefix), restart after a delay",
    "power-loss": "a majority or all nodes lose power at once, restart after a delay",
    "partition": "split the nodes into two sides (any shape), heal after a delay",
    "isolate": "cut one node off from all others, heal after a delay",
    "pause": "stop a node's tasks while time goes on (SIGSTOP), resume after a delay",
    "clock-rate": "a node's clock runs a few percent fast or slow",
    "clock-jump": "a node's clock jumps forward (a suspended VM)",
    "slow-disk": "a node's log writes take milliseconds each for a while",
    "drop": "the network drops a share of frames for a while",
    "transfer": "the leader hands over to another node",
    "rejoin": "a node loses its data dir and comes back: remove, --join, learner, promote",
}
WORKLOADS = {"register": "cas-register", "append": "kv"}  # workload -> the checker's model
# A leader's lease is 4 of 10 ticks: sound while its clock runs at more than 4/9 of a follower's.
CLOCK_RATES = (0.6, 1.2)
MAX_VIOLATIONS = 10
CLIENT_TIMEOUT_S = 0.5  # a client gives up on an attempt before the node does (1 s), then retries
THINK_S = 0.08  # a client's pause between operations, at most (uniform)  # within the lease's drift margin: a safe KV must survive any such rate


@dataclasses.dataclass(frozen=True)
class Fault:
    at: float  # virtual seconds after the cluster formed
    kind: str
    node: int = 0  # the node it hits (partition: the side it starts; 0: none)
    span: float = 0.0  # how long it lasts (seconds), or the jump for clock-jump
    arg: float = 0.0  # crash: unsynced batches kept; partition: side size; clock-rate: rate; drop: rate

    def describe(self) -> str:
        what = {"crash": f"crash node {self.node} (keeping {int(self.arg)} unsynced batches), restart after "
                         f"{self.span:.2f}s",
                "partition": f"partition {self.node}.. ({int(self.arg)} nodes) from the rest for {self.span:.2f}s",
                "power-loss": f"{int(self.arg)} nodes from node {self.node} on lose power, back after "
                              f"{self.span:.2f}s",
                "isolate": f"isolate node {self.node} for {self.span:.2f}s",
                "pause": f"pause node {self.node} for {self.span:.2f}s",
                "clock-rate": f"node {self.node}'s clock at rate {self.arg:.3f} for {self.span:.2f}s",
                "clock-jump": f"node {self.node}'s clock jumps {self.span:.2f}s forward",
                "slow-disk": f"node {self.node}'s log writes take {self.arg * 1000:.0f} ms for {self.span:.2f}s",
                "drop": f"the network drops {self.arg:.0%} of frames for {self.span:.2f}s",
                "transfer": f"leader transfer to node {self.node}",
                "rejoin": f"node {self.node} loses its data and rejoins"}[self.kind]
        return f"{self.at:7.3f}s {what}"


@dataclasses.dataclass(frozen=True)
class Schedule:
    nodes: int
    duration: float  # virtual seconds of load after the cluster formed
    workload: str
    read_mode: str
    faults: tuple[Fault, ...]

    def as_json(self) -> dict:
        return {"nodes": self.nodes, "duration": self.duration, "workload": self.workload,
                "read_mode": self.read_mode, "faults": [dataclasses.asdict(f) for f in self.faults]}

    @classmethod
    def from_json(cls, d: dict) -> "Schedule":
        return cls(d["nodes"], d["duration"], d["workload"], d["read_mode"],
                   tuple(Fault(**f) for f in d["faults"]))

    def with_faults(self, faults, duration: float | None = None) -> "Schedule":
        return dataclasses.replace(self, faults=tuple(faults),
                                   duration=self.duration if duration is None else duration)


def plan(seed: int, regions: bool = False, duration: float = 20.0, faults: tuple[str, ...] | None = None,
         n_faults: int | None = None) -> Schedule:
    """The schedule seed `seed` draws: cluster size, workload, read mode and faults at any instant."""
    rng = random.Random(f"plan-{seed}")
    kinds = list(faults or FAULTS)
    if regions:
        kinds = [k for k in kinds if k != "rejoin"] or kinds  # a store's rejoin is slow: rarely worth its time
    n = 3 if regions else rng.choice((3, 3, 5))
    count = rng.randint(2, 12) if n_faults is None else n_faults
    out = []
    for _ in range(count):
        kind = rng.choice(kinds)
        at = round(rng.uniform(0.2, duration * 0.9), 3)
        node = rng.randint(1, n)
        span = round(rng.choice((rng.uniform(0.01, 0.3), rng.uniform(0.3, 3.0))), 3)
        arg = 0.0
        if kind == "crash":
            arg = rng.choice((0, 0, 1, 2, 5))
        elif kind == "power-loss":
            arg = rng.choice((n // 2 + 1, n))
        elif kind == "partition":
            arg = rng.randint(1, n - 1)
        elif kind == "clock-rate":
            arg = round(rng.uniform(*CLOCK_RATES), 4)
            span = round(rng.uniform(1.0, 8.0), 3)
        elif kind == "slow-disk":
            arg = round(rng.choice((0.002, 0.01, 0.05)), 3)
        elif kind == "drop":
            arg = round(rng.uniform(0.05, 0.5), 2)
        out.append(Fault(at, kind, node, span, arg))
    out.sort(key=lambda f: f.at)
    workload = rng.choice(sorted(WORKLOADS))
    read_mode = rng.choice((readmodes.READINDEX, readmodes.LEASE))
    return Schedule(n, duration, workload, read_mode, tuple(out))


@dataclasses.dataclass
class Outcome:
    seed: int
    schedule: Schedule
    history: list[dict]
    trace: list[dict]
    violations: list[str]
    sim_seconds: float
    wall_seconds: float
    ops: int

    @property
    def model(self) -> str:
        return WORKLOADS[self.schedule.workload]


class _World:
    def __init__(self, seed: int, schedule: Schedule, root: Path, regions: bool, bug: str | None):
        self.seed, self.schedule, self.regions = seed, schedule, regions
        rng = random.Random(f"world-{seed}")
        self.rng = random.Random(rng.getrandbits(64))  # clients' choices
        # Timing as a LAN deployment's, scaled: 20 ms ticks, 40 ms heartbeats, elections from 200 ms.
        opts = dict(snapshot_every=100, request_timeout=1.0, read_mode=schedule.read_mode, unsafe_bug=bug,
                    tick_ms=20, election_ticks=10, heartbeat_ticks=2)
        if regions:
            opts.update(split_size=600, merge_size=150, balance_s=0.5)
        self.c = SimCluster(root, schedule.nodes, seed=rng.getrandbits(64), regions=regions, **opts)
        self.c.net.delay = (0.0002, 0.002)
        self.history: list[dict] = []
        self.trace: list[dict] = []
        self.violations: list[str] = []
        self.leaders: dict[tuple, int] = {}  # (group, term) -> leader
        self.committed: dict[tuple, int] = {}  # (group, index) -> term of the committed entry
        self.promised_term: dict[int, int] = {}  # node -> highest term it sent a message of
        self.promised_vote: dict[int, tuple] = {}  # node -> (term, node) of the last vote it granted
        if not regions:
            self.c.net.on_send = self.on_send
        self.applied_digest: dict[tuple, tuple] = {}  # (group, applied index) -> (node, digest)
        self.next_process = 0
        self.ops = 0
        self.t0 = 0.0
        self.now = 0.0  # virtual seconds when the run ended
        self.stop_load = False
        self.down: set[int] = set()  # nodes a fault holds down (their restart is that fault's)

    # --- recording ----------------------------------------------------------------------
    def now_ns(self) -> int:
        return int(round((asyncio.get_running_loop().time() - self.t0) * 1e9))

    def note(self, event: str, **kw) -> None:
        self.trace.append({"t": round(asyncio.get_running_loop().time() - self.t0, 6), "event": event, **kw})

    def violation(self, text: str) -> None:
        """Kept once each, at most MAX_VIOLATIONS (one broken invariant repeats at every check)."""
        if text not in self.violations and len(self.violations) < MAX_VIOLATIONS:
            self.violations.append(text)
            self.note("violation", text=text)

    # --- invariants -------------------------------------------------------------------
    def _groups(self, i, n):
        """(group id, raw node, state machine, key range) of every Raft group on node i."""
        if not self.regions:
            if n.raw is not None:
                yield 0, n.raw, n.sm, (None, None)
            return
        for rid, p in list(n.peers.items()):
            if p.raw is not None and not getattr(p, "uninit", False):
                r = getattr(p, "region", None)
                yield rid, p.raw, p.sm, ((r.start, r.end) if r is not None else (None, None))

    def check(self) -> None:
        for i, n in list(self.c.nodes.items()):
            for gid, raw, sm, span in self._groups(i, n):
                term = raw.raft.term
                if raw.raft.role == Role.LEADER:
                    prev = self.leaders.setdefault((gid, term), i)
                    if prev != i:
                        self.violation(f"two leaders in term {term} of group {gid}: nodes {prev} and {i}")
                log = raw.raft.log
                for e in log.ents:
                    if e.index > log.committed:
                        break
                    seen = self.committed.setdefault((gid, e.index), e.term)
                    if seen != e.term:
                        self.violation(f"group {gid}: committed entry {e.index} changed from term {seen} "
                                       f"to term {e.term} on node {i}")
                if sm is not None and (not self.regions or gid != META_REGION):
                    self._agree(i, gid, sm, span)
            if not self.regions and n.raw is not None:
                self._kept_promises(i, n.raw.raft.term, n.raw.raft.vote)

    def on_send(self, frm: int, to: int, kind: int, payload) -> None:
        """What a node told others binds it across crashes: the terms of its messages (pre-votes
        excepted: they name a term not taken) and the vote it granted in a term."""
        if kind != RAFT or payload[0] in (MsgType.PRE_VOTE, MsgType.PRE_VOTE_RESP):
            return
        term = payload[3]
        if term > self.promised_term.get(frm, 0):
            self.promised_term[frm] = term
        if payload[0] == MsgType.VOTE_RESP and not payload[8]:
            self.promised_vote[frm] = (term, to)

    def _kept_promises(self, i: int, term: int, vote: int) -> None:
        sent = self.promised_term.get(i, 0)
        if term < sent:
            self.violation(f"node {i} is at term {term} after it sent messages of term {sent} (durable state "
                           f"went back)")
        granted = self.promised_vote.get(i)
        if granted is not None and granted[0] == term and vote != granted[1]:
            self.violation(f"node {i} granted its vote in term {term} to node {granted[1]} and now holds vote "
                           f"{vote} (durable state went back)")

    def _agree(self, i, gid, sm, span) -> None:
        lo, hi = span
        prefix = sm.data_prefix
        lower = prefix + (lo.encode() if lo else b"")
        upper = prefix + hi.encode() if hi else prefix[:-1] + bytes([prefix[-1] + 1])
        h = hashlib.blake2b(digest_size=8)
        for k, v in sm.db.iterate(lower, upper):
            h.update(k + b"\0" + v + b"\1")
        key = (gid, sm.applied)
        digest = h.hexdigest()
        prev = self.applied_digest.setdefault(key, (i, digest))
        if prev[1] != digest:
            self.violation(f"group {gid}: nodes {prev[0]} and {i} applied index {sm.applied} "
                           f"but hold different data")

    async def monitor(self) -> None:
        while True:
            self.check()
            await asyncio.sleep(0.02)

    def forget_node(self, i: int) -> None:
        """A wiped node is a new member: what it promised before is not its to keep."""
        self.promised_term.pop(i, None)
        self.promised_vote.pop(i, None)

    # --- clients ----------------------------------------------------------------------
    def _target(self, hint, any_node: bool):
        ids = sorted(self.c.nodes)
        if not ids:
            return None
        if any_node or hint not in self.c.nodes:
            return self.c.nodes[self.rng.choice(ids)]
        return self.c.nodes[hint]

    async def _attempts(self, call, writes: bool, any_node: bool = False, hints: dict | None = None):
        """-> ("ok", value) | ("fail", error) | ("info", error): retried with the same request id
        through not-leader answers and timeouts, as the real client does; hints["leader"] is the
        client's leader cache (the node that last answered), kept across operations."""
        hints = {} if hints is None else hints
        unknown, last = False, "no node"
        for attempt in range(6):
            hint = hints.get("leader")
            node = self._target(hint, any_node)
            if node is None:
                await asyncio.sleep(0.1)
                continue
            try:
                result = await asyncio.wait_for(self._served(node, call), CLIENT_TIMEOUT_S)
                if not any_node:
                    hints["leader"] = node.id
                return "ok", result
            except errors.NotLeader as e:
                hints["leader"], last = e.leader or None, "not leader"
                await asyncio.sleep(0.02 if e.leader else 0.1)
            except errors.EpochNotMatch:
                last = "epoch not match"
                await asyncio.sleep(0.02)
            except (errors.Timeout, asyncio.TimeoutError):
                unknown, last, hints["leader"] = True, "timeout", None
            except errors.Refused as e:
                last = str(e)
                await asyncio.sleep(0.05)
            except errors.KVError as e:
                last = f"{type(e).__name__}: {e}"
            except Exception as e:  # noqa: BLE001 - the server would answer 500: a defect of the KV
                self.violation(f"node {node.id} failed a request with {type(e).__name__}: {e}"[:300])
                unknown, last = True, type(e).__name__
        return ("info" if unknown and writes else "fail"), last

    async def _served(self, node, call):
        """call(node) as a request over its socket: a paused node reads it only when it resumes,
        and its answer leaves only while it runs."""
        clock = self.c.clocks[node.id]
        while clock.paused:
            await clock.running()
        result = await call(node)
        while clock.paused:
            await clock.running()
        return result

    async def client(self, cid: int, keys) -> None:
        process = self._new_process()
        seq = 0
        hints: dict = {}
        wl = self.schedule.workload
        mode_choices = [m for m in readmodes.READ_MODES if m not in readmodes.UNSAFE]
        while not self.stop_load:
            key = self.rng.choice(keys)
            seq += 1
            rid = f"c{cid}:{seq}"
            r = self.rng.random()
            mode = None
            if wl == "register":
                if r < 0.45:
                    value = f"{cid}-{seq}"
                    f, hval = "write", value
                    call = lambda n, v=value: n.write("p", key, json.dumps(v).encode(), None, rid)  # noqa: E731
                elif r < 0.6:
                    exp = self.rng.choice([v for v in self._written.get(key, [])[-3:]] or [None])
                    value = f"{cid}-{seq}"
                    f, hval = "cas", [exp, value]
                    call = lambda n, e=exp, v=value: n.write(  # noqa: E731
                        "c", key, json.dumps(e).encode(), json.dumps(v).encode(), rid)
                else:
                    mode = self.rng.choice(mode_choices)
                    f, hval = "read", None
                    call = lambda n, m=mode: n.read(key, m)  # noqa: E731
            else:
                if r < 0.5:
                    s = f"{cid}.{seq};"
                    f, hval = "append", s
                    call = lambda n, s=s: n.write("a", key, s, None, rid)  # noqa: E731
                else:
                    mode = self.rng.choice(mode_choices)
                    f, hval = "get", None
                    call = lambda n, m=mode: n.read(key, m)  # noqa: E731
            writes = f not in ("read", "get")
            any_node = mode == readmodes.FOLLOWER
            self.history.append({"process": process, "type": "invoke", "f": f, "key": key, "value": hval,
                                 "time": self.now_ns()})
            outcome, result = await self._attempts(call, writes, any_node, hints)
            ev = {"process": process, "type": outcome, "f": f, "key": key, "value": hval, "time": self.now_ns()}
            self.ops += 1
            if outcome == "ok":
                if f in ("read", "get"):
                    ev["value"] = json.loads(result) if result is not None else (None if f == "read" else "")
                elif f == "cas" and result is not True:
                    ev["type"] = "fail"
                elif f == "write":
                    self._written.setdefault(key, []).append(hval)
                elif f == "cas":
                    self._written.setdefault(key, []).append(hval[1])
            else:
                ev["error"] = result
            self.history.append(ev)
            if ev["type"] == "info":
                process = self._new_process()
            await asyncio.sleep(self.rng.uniform(0.0, THINK_S))

    def _new_process(self) -> int:
        self.next_process += 1
        return self.next_process

    # --- faults ------------------------------------------------------------------------
    async def fault(self, f: Fault) -> None:
        await asyncio.sleep(max(0.0, f.at - (asyncio.get_running_loop().time() - self.t0)))
        c = self.c
        self.note("fault", what=f.describe().strip(), kind=f.kind)
        self.history.append({"process": "nemesis", "type": "info", "f": f.kind, "value": f.node,
                             "time": self.now_ns()})
        i = f.node
        if f.kind == "crash":
            if i not in c.nodes or i in self.down:
                return
            self.down.add(i)
            await c.crash(i, keep=int(f.arg))
            await asyncio.sleep(f.span)
            await self._restart(i)
        elif f.kind == "power-loss":
            ids = list(range(1, self.schedule.nodes + 1))
            hit = [j for j in (ids[(i - 1):] + ids[:(i - 1)])[:int(f.arg)] if j in c.nodes and j not in self.down]
            self.down.update(hit)
            for j in hit:
                await c.crash(j)
            await asyncio.sleep(f.span)
            for j in hit:
                await self._restart(j)
        elif f.kind in ("partition", "isolate"):
            ids = list(range(1, self.schedule.nodes + 1))
            if f.kind == "isolate":
                side = [i]
            else:
                k = int(f.arg)
                rot = ids[(i - 1):] + ids[:(i - 1)]
                side = rot[:k]
            c.net.partition(side, [j for j in c.ids if j not in side])
            await asyncio.sleep(f.span)
            c.net.heal()
            self.note("heal")
        elif f.kind == "pause":
            if i not in c.nodes or c.clocks[i].paused:
                return
            c.pause(i)
            await asyncio.sleep(f.span)
            if i in c.nodes and c.nodes[i].transport is not None:
                c.resume(i)
            self.note("resume", node=i)
        elif f.kind == "clock-rate":
            clock = c.clocks.get(i)
            if clock is None:
                return
            clock.set_rate(f.arg)
            await asyncio.sleep(f.span)
            clock.set_rate(1.0)
        elif f.kind == "clock-jump":
            if i in c.clocks:
                c.clocks[i].jump(f.span)
        elif f.kind == "slow-disk":
            lane = c.lanes.get(i, {}).get("log")
            if lane is None:
                return
            lane.delay = lambda rng, d=f.arg: d
            await asyncio.sleep(f.span)
            lane.delay = None
        elif f.kind == "drop":
            c.net.drop_rate = f.arg
            await asyncio.sleep(f.span)
            c.net.drop_rate = 0.0
        elif f.kind == "transfer":
            lead = c.leader()
            if lead is None or i not in c.nodes or i == lead:
                return
            try:
                await asyncio.wait_for(c.nodes[lead].transfer_leader(i), 2.0)
            except (errors.KVError, asyncio.TimeoutError):
                pass
        elif f.kind == "rejoin":
            if i in self.down or len(c.nodes) < self.schedule.nodes:
                return  # with another node down, taking this one out would stop the cluster
            self.down.add(i)
            await c.crash(i)
            c.wipe(i)
            self.forget_node(i)
            try:
                await c.rejoin(i, timeout=20.0)
                self.note("rejoined", node=i)
                self.down.discard(i)
            except (AssertionError, asyncio.TimeoutError, ValueError, errors.KVError) as e:
                self.note("rejoin-failed", node=i, why=str(e)[:200])

    async def _restart(self, i: int) -> None:
        for attempt in range(20):
            try:
                await asyncio.wait_for(self.c.start(i), 5.0)
                self.note("restart", node=i)
                self.down.discard(i)
                return
            except (ValueError, asyncio.TimeoutError, OSError) as e:
                self.note("restart-refused", node=i, why=str(e)[:200])
                await asyncio.sleep(0.5)

    # --- the run -------------------------------------------------------------------------
    async def run(self) -> None:
        c = self.c
        self._written: dict[str, list] = {}
        await c.start_all()
        loop = asyncio.get_running_loop()
        self.t0 = loop.time()
        self.note("formed", nodes=self.schedule.nodes, leader=c.leader())
        mon = loop.create_task(self.monitor())
        faults = [loop.create_task(self.fault(f)) for f in self.schedule.faults]
        keys = [f"k{j}" for j in range(4 if not self.regions else 12)]
        clients = [loop.create_task(self.client(j, keys)) for j in range(1, 4)]
        await asyncio.sleep(self.schedule.duration)
        # The end: no new faults; what is down comes back, the network heals, the load stops.
        for t in faults:
            t.cancel()
        _raise_harness_errors(await asyncio.gather(*faults, return_exceptions=True))
        c.net.heal()
        c.net.drop_rate = 0.0
        for i in list(c.nodes):
            if c.clocks[i].paused:
                c.resume(i)
            c.clocks[i].set_rate(1.0)
            for lane in c.lanes.get(i, {}).values():
                lane.delay = None
        for i in c.ids:
            if i not in c.nodes:
                if i in self.down and i not in sum(c.members(), []):
                    continue  # a rejoin cut short: removed, not a member
                await self._restart(i)
        self.stop_load = True
        _raise_harness_errors(await asyncio.gather(*clients, return_exceptions=True))
        self.note("healed")
        await asyncio.sleep(2.0)
        # Final reads through the leader, as Jepsen's: the state every acknowledged write must be in.
        for key in keys:
            process = self._new_process()
            f = "read" if self.schedule.workload == "register" else "get"
            self.history.append({"process": process, "type": "invoke", "f": f, "key": key, "value": None,
                                 "time": self.now_ns()})
            outcome, result = await self._attempts(lambda n: n.read(key, readmodes.READINDEX), False)
            ev = {"process": process, "type": outcome, "f": f, "key": key, "value": None, "time": self.now_ns()}
            if outcome == "ok":
                ev["value"] = json.loads(result) if result is not None else (None if f == "read" else "")
            self.history.append(ev)
        self.check()
        mon.cancel()
        await asyncio.gather(mon, return_exceptions=True)
        for i, what, exc in c.fatal:
            self.violation(f"node {i} failed {what}: {exc!r}"[:300])
        for text in c.net.errors:
            self.violation(text)
        await c.close()


def _raise_harness_errors(results) -> None:
    """A fault or client task that died of an error is a defect of the world, never a pass."""
    for r in results:
        if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError):
            raise r


def simulate(seed: int, schedule: Schedule | None = None, *, regions: bool = False, root: Path,
             bug: str | None = None) -> Outcome:
    """Run seed's world (its own schedule unless one is given) to the end; -> Outcome."""
    schedule = schedule or plan(seed, regions)
    w = _World(seed, schedule, Path(root), regions, bug)
    t0 = time.perf_counter()
    try:
        run(_bounded(w))
    except Deadlock as e:  # or Livelock: either way nothing can happen any more
        w.trace.append({"t": None, "event": "violation", "text": str(e)[:2000]})
        w.violations.append(str(e).split("\n")[0])
    return Outcome(seed, schedule, w.history, w.trace, w.violations, w.now, time.perf_counter() - t0, w.ops)


async def _bounded(w: _World) -> None:
    """The world's run, bounded in virtual time (a liveness failure is a finding, not a hang)."""
    limit = w.schedule.duration + 120.0
    try:
        await asyncio.wait_for(w.run(), limit)
    except asyncio.TimeoutError:
        w.violation(f"the run did not end within {limit:.0f} virtual seconds (stuck)")
    finally:
        w.now = asyncio.get_running_loop().time()
