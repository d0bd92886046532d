"""Numbers from evidence: what a history, the node status samples and the load's
own events say.

Everything here is a pure function of recorded files, so `splitbrain report`
computes the same summary from a finished run, a killed run, or a copy of
someone else's run directory.

Definitions (the report prints them):
- an operation is *client-visible ok* when its completion is `ok`; a cas whose
  comparison did not match (`fail` with no error) is a *cas mismatch*, counted
  apart from failures (errors) and timeouts or other unknown outcomes (`info`);
- the load window: from the load's start to the end of its configured time (or
  to when it was stopped, if earlier); throughput is the ok operations that
  completed in it divided by its length, so a load that died early shows a
  low throughput instead of a normal rate over a short span;
- the final read: after the final heal and the quiet period, every key that
  ever had an acknowledged write is read once more (Jepsen's final generator);
  those reads are part of the checked history, after the load window;
- unavailable, per operation kind: gaps between consecutive `ok` completions
  of that kind longer than `max(gap_floor, 10 x the median gap)` in which that
  kind was attempted, summed; a kind still failing at the end of the load
  window counts to the end and is marked "never recovered"; the headline is
  the worst kind;
- recovery after a fault: from the nemesis step that starts it, or, when no
  quorum was possible for part of that time, from the moment a quorum became
  possible again (the heal, or the stop of the fault that prevented it), to the
  completion of the first `ok` write (write, cas, put, append, delete) invoked
  at or after that moment; a fault after which no write succeeded before the
  end of the load window "never recovered"; the same is given per operation
  kind;
- no quorum possible: the time when the faults in force (links cut, from each
  partition's grudge; nodes killed, paused or powered off) left no node that
  is up and talks both ways with enough up nodes to make a majority with
  itself, so no leader could be elected (`splitbrain/quorum.py`); reported
  apart, with the faults in force;
- election: from when the cluster stops agreeing on a leader (a majority of
  all nodes, the leader included, report the same leader, in the same term
  when the probe gives terms) to when it agrees again on a new leader (with
  terms: a leader of a higher term; without: another node); when a fault was
  in force when the agreement ended (or had stopped up to `detect_window`
  before), the election is measured from the fault's start, so the failure
  detection time counts, as it does for a client (a Sentinel that waits
  seconds before it fails over is seconds of election); when no quorum was
  possible for part of that time, it is measured from the moment a quorum
  became possible again;
- leader safety (two leaders in one term, a commit index going back) is
  checked only when the probe gives terms (and commit indexes).
"""
from __future__ import annotations

import math
import pathlib
from dataclasses import dataclass, field
from typing import Iterable

from checker.history import HistoryError, Operation, Pairing, TornLine, load, pair, pair_file
from splitbrain import quorum

WRITE_FS = frozenset({"write", "cas", "put", "append", "delete"})
NS = 1_000_000_000


@dataclass(slots=True)
class NemesisEvent:
    time: int
    f: str
    value: object
    fault: str | None = None  # the fault package this step belongs to
    phase: str | None = None  # as the schedule wrote it: "start" | "stop" | None (bookkeeping events)

    @property
    def starts_fault(self) -> bool:
        return self.phase == "start"

    @property
    def stops_all(self) -> bool:
        """The final heal: a stop of no one fault ends every fault still on."""
        return self.phase == "stop" and self.fault is None


@dataclass(slots=True)
class History:
    """A run's history as the checker pairs it (`checker.history.pair`): its operations, with the
    serving node and latency each completion recorded, and the nemesis steps."""

    ops: list[Operation] = field(default_factory=list)  # status ok|fail|info; call, end in ns (end None: open)
    nemesis: list[NemesisEvent] = field(default_factory=list)
    torn: TornLine | None = None  # a run killed mid-write may leave one torn last line, dropped

    @property
    def t0(self) -> int | None:
        times = [o.call for o in self.ops] + [e.time for e in self.nemesis]
        return min(times) if times else None


def from_events(events: Iterable[dict]) -> History:
    """The checker's pairing of `events` (validated: HistoryError names the bad event), nemesis apart."""
    return from_pairing(pair(events))


def from_pairing(paired: Pairing) -> History:
    """A pairing (`checker.history.pair`, or `pair_file` that reads a file a block at a time) as the analysis
    reads it: its operations, and its nemesis steps checked."""
    nemesis = [nemesis_event(ev, paired.source.where(i)) for i, ev in paired.nemesis]
    return History(paired.ops, nemesis, paired.torn)


def load_history(path: pathlib.Path) -> History:
    """A run's history.jsonl, read a block at a time (the events go once paired)."""
    return from_pairing(pair_file(path))


PHASES = ("start", "stop", None)


def nemesis_event(ev: dict, where: str) -> NemesisEvent:
    """A nemesis step as the schedule writes it, or HistoryError naming what is wrong (the analysis
    orders, pairs and counts these: a step of the wrong shape would be a wrong figure or a crash)."""
    t, f, fault, phase = ev.get("time"), ev.get("f"), ev.get("fault"), ev.get("phase")
    if type(t) not in (int, float) or not math.isfinite(t):
        raise HistoryError(f"{where}: nemesis \"time\" must be a finite number")
    if type(f) is not str:
        raise HistoryError(f"{where}: nemesis \"f\" must be a string")
    if fault is not None and type(fault) is not str:
        raise HistoryError(f"{where}: nemesis \"fault\" must be a fault's name")
    if phase not in PHASES or isinstance(phase, bool):
        raise HistoryError(f"{where}: nemesis \"phase\" must be start, stop or absent")
    return NemesisEvent(int(t), f, ev.get("value"), fault, phase)


def quantiles(values: list[float], qs=(0.5, 0.95, 0.99)) -> dict:
    """Nearest-rank quantiles plus count and max; empty input gives count 0 and nulls."""
    vs = sorted(values)
    out: dict = {"count": len(vs)}
    for q in qs:
        out[f"p{round(q * 100)}"] = _rank(vs, q)
    out["max"] = vs[-1] if vs else None
    out["mean"] = (sum(vs) / len(vs)) if vs else None
    return out


def _rank(sorted_vs: list[float], q: float):
    if not sorted_vs:
        return None
    i = max(0, min(len(sorted_vs) - 1, math.ceil(q * len(sorted_vs)) - 1))
    return sorted_vs[i]


def is_cas_mismatch(o: Operation) -> bool:
    """A cas that definitely did not apply because its comparison did not match: no error."""
    return o.f == "cas" and o.status == "fail" and o.error is None


def outcome(o: Operation) -> str:
    """ok | fail (an error: definitely not applied) | info (unknown) | mismatch (a cas that did not match)."""
    return "mismatch" if is_cas_mismatch(o) else o.status


def op_counts(h: History) -> dict:
    counts = {"ok": 0, "fail": 0, "info": 0, "cas_mismatch": 0}
    for o in h.ops:
        kind = outcome(o)
        counts["cas_mismatch" if kind == "mismatch" else kind] += 1
    counts["total"] = len(h.ops)
    return counts


def latencies_ms(h: History, types=("ok",), fs=None) -> list[float]:
    return [(o.end - o.call) / 1e6 for o in h.ops
            if o.end is not None and o.status in types and (fs is None or o.f in fs)]


# --- the load window -----------------------------------------------------------------------


@dataclass(slots=True)
class Load:
    """What the load process said about itself (load-events.jsonl): when it started and
    stopped, how many users it ran, and every user that died before the end."""

    start: int | None = None
    stop: int | None = None
    users: int | None = None
    run_time: float | None = None  # configured seconds
    died: list[dict] = field(default_factory=list)  # {"time", "user", "error"}
    final_reads: dict | None = None  # what the final read did: {"keys", "ok", "time"...}


def read_load_events(path: pathlib.Path) -> Load:
    """What the load said of itself; a field of the wrong kind is as if unsaid (a user count that is
    not a count, a run time that is not a finite number of seconds), never a crash or a wrong figure."""
    from splitbrain import values

    load = Load()
    if not path.exists():
        return load

    def of(kind, v):
        try:
            return kind.check(v)
        except ValueError:
            return None

    for ev in load_events(path):
        kind = ev.get("event")
        if kind == "start":
            load.start = int(ev["time"])
            load.users = of(values.count(1, optional=True), ev.get("users"))
            load.run_time = of(values.OPTIONAL_SECONDS, ev.get("run_time"))
        elif kind == "stop":
            load.stop = int(ev["time"])
        elif kind == "user-died":
            load.died.append({"time": int(ev["time"]), "user": ev.get("user"),
                              "error": None if ev.get("error") is None else str(ev.get("error"))})
        elif kind == "final-read":
            load.final_reads = {k: v for k, v in ev.items() if k != "event"}
            if load.final_reads.get("note") is not None:
                load.final_reads["note"] = str(load.final_reads["note"])
    return load


def load_events(path: pathlib.Path) -> list[dict]:
    """The lines of a load-events file that are objects with a number for time (a torn last
    line of a killed run is dropped)."""
    import json

    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        t = ev.get("time") if isinstance(ev, dict) else None
        if type(t) in (int, float) and math.isfinite(t):
            out.append(ev)
    return out


def load_window(h: History, load: Load | None = None, configured_s: float | None = None) -> tuple[int, int] | None:
    """[start, end) of the load in ns: from its start to the end of its configured time, or to
    when it stopped if that came first (an interrupted run). Without the load's own events:
    from the first invoke, for the configured time, else to the last completion."""
    load = load or Load()
    run_time = load.run_time if load.run_time is not None else configured_s
    client = [o for o in h.ops if not is_final(o)]
    start = load.start if load.start is not None else (min(o.call for o in client) if client else None)
    if start is None:
        return None
    ends = [int(start + run_time * NS)] if run_time else []
    if load.stop is not None:
        ends.append(load.stop)
    if not ends:
        ends.append(max((o.end or o.call) for o in client))
    return int(start), int(max(start, min(ends)))


def is_final(o: Operation) -> bool:
    """One of the final reads after the final heal (see workloads.final)."""
    from workloads.final import is_final_process

    return is_final_process(o.process)


def throughput(h: History, window: tuple[int, int] | None = None) -> float:
    """ok operations completed in the load window per second of it."""
    if window is None:
        window = load_window(h)
    if window is None or window[1] <= window[0]:
        return 0.0
    a, b = window
    oks = sum(1 for o in h.ops if o.status == "ok" and o.end is not None and a <= o.end <= b and not is_final(o))
    return oks / ((b - a) / NS)


def nemesis_periods(h: History) -> list[dict]:
    """Fault windows [start, end) in ns; a window still open at the final heal ends
    there, and one never closed ends at the history's last event."""
    last = max([o.end or o.call for o in h.ops] + [e.time for e in h.nemesis] + [0])
    periods: list[dict] = []
    open_: dict[str, dict] = {}
    for e in sorted(h.nemesis, key=lambda e: e.time):
        if e.phase == "start":
            p = {"fault": e.fault, "start": e.time, "end": None, "value": e.value}
            open_[e.fault] = p
            periods.append(p)
        elif e.stops_all:
            for p in open_.values():
                p["end"] = e.time
            open_.clear()
        elif e.phase == "stop":
            p = open_.pop(e.fault, None)
            if p is not None:
                p["end"] = e.time
    for p in periods:
        if p["end"] is None:
            p["end"] = last
    return periods


def recoveries(h: History, no_quorum: list[dict] = (), window: tuple[int, int] | None = None,
               fs=WRITE_FS) -> list[dict]:
    """Per fault start: {"fault", "start", "from", "measured_from", "ms"}: ms from the fault's
    start (or from the end of a no-quorum interval within the outage: `from` "quorum") to the
    completion of the first ok op of kinds `fs` invoked at or after it; ms None when none
    succeeded before the window's end (never recovered)."""
    import bisect

    end = window[1] if window else None
    done = sorted((o for o in h.ops if o.status == "ok" and o.f in fs and o.end is not None and not is_final(o)
                   and (end is None or o.end <= end)), key=lambda o: o.call)
    calls = [o.call for o in done]
    first_end = [0] * len(done)  # first_end[i]: the earliest completion among done[i:]
    running = None
    for i in range(len(done) - 1, -1, -1):
        running = done[i].end if running is None else min(running, done[i].end)
        first_end[i] = running

    def first_after(t):
        i = bisect.bisect_left(calls, t)
        return first_end[i] if i < len(done) else None

    out = []
    for e in h.nemesis:
        if not e.starts_fault:
            continue
        t0, since = e.time, "fault"
        while True:  # no client can succeed while no quorum is possible: measure from its end
            first = first_after(t0)
            until = first if first is not None else (end if end is not None else INF_NS)
            regained = [iv["end"] for iv in no_quorum if iv["start"] < until and t0 < iv["end"]]
            if not regained:
                break
            t0, since = max(regained), "quorum"
        out.append({"fault": e.fault, "start": e.time, "from": since, "measured_from": t0,
                    "ms": None if first is None else (first - t0) / 1e6})
    return out


INF_NS = 1 << 62


def recovery_ms(h: History, no_quorum: list[dict] = (), window: tuple[int, int] | None = None) -> list[float]:
    """The measured recoveries (writes), in ms; faults never recovered from are left out (see recoveries)."""
    return [r["ms"] for r in recoveries(h, no_quorum, window) if r["ms"] is not None]


def unavailable_windows(h: History, gap_floor_ms: float = 100.0, fs=None,
                        window: tuple[int, int] | None = None) -> list[tuple[int, int]]:
    """Gaps between ok completions (of kinds `fs`; None: any) in which such ops were attempted,
    longer than max(floor, 10 x the median gap). With a window, an outage still on at its end
    counts to the end (see `outages`)."""
    return [(w["start"], w["end"]) for w in outages(h, gap_floor_ms, fs, window)]


def outages(h: History, gap_floor_ms: float = 100.0, fs=None, window: tuple[int, int] | None = None) -> list[dict]:
    """{"start", "end", "never_recovered"} per unavailable window (see unavailable_windows)."""
    import bisect

    ops = [o for o in h.ops if (fs is None or o.f in fs) and not is_final(o)
           and (window is None or window[0] <= o.call <= window[1])]
    ends = sorted(o.end for o in ops if o.status == "ok" and o.end is not None)
    calls = sorted(o.call for o in ops)
    if not calls:
        return []
    gaps = [b - a for a, b in zip(ends, ends[1:])]
    med = sorted(gaps)[len(gaps) // 2] if gaps else 0
    limit = max(gap_floor_ms * 1e6, 10 * med)

    def attempted(a, b) -> bool:
        i = bisect.bisect_right(calls, a)
        return i < len(calls) and calls[i] < b

    out = [{"start": a, "end": b, "never_recovered": False}
           for a, b in zip(ends, ends[1:]) if b - a > limit and attempted(a, b)]
    if window is not None:
        last = ends[-1] if ends else window[0]
        if window[1] - last > limit and attempted(last, window[1]):
            out.append({"start": last, "end": window[1], "never_recovered": True})
    return out


def availability(h: History, window: tuple[int, int] | None, gap_floor_ms: float = 100.0) -> dict:
    """Per operation kind: its unavailable seconds and windows, and whether it never recovered."""
    out = {}
    for f in sorted({o.f for o in h.ops if not is_final(o)}):
        ws = outages(h, gap_floor_ms, {f}, window)
        oks = [o.end for o in h.ops if o.f == f and o.status == "ok" and o.end is not None and not is_final(o)]
        out[f] = {"unavailable_s": round(sum(w["end"] - w["start"] for w in ws) / NS, 3),
                  "windows": [[w["start"], w["end"]] for w in ws],
                  "never_recovered": any(w["never_recovered"] for w in ws),
                  "last_ok": max(oks) if oks else None}
    return out


# --- elections from status samples -------------------------------------------------


def read_status_samples(path: pathlib.Path) -> list[dict]:
    """Rounds written by the monitor: {"time": ns, "nodes": {id: status|null}}, in time order.

    A round of the wrong shape is a HistoryError naming its line (the file is the
    monitor's); a field of a node's answer of the wrong type is dropped, as if the
    probe had not said it (the answers are the system's)."""
    if not path.exists():
        return []
    rounds = load(path)
    out = []
    for i, r in enumerate(rounds):
        t, nodes = r.get("time"), r.get("nodes")
        if type(t) not in (int, float) or not math.isfinite(t):
            raise HistoryError(f"{rounds.where(i)}: a status round's \"time\" must be a finite number")
        if not isinstance(nodes, dict):
            raise HistoryError(f"{rounds.where(i)}: a status round's \"nodes\" must be an object")
        out.append({"time": int(t), "nodes": {n: _status(s) for n, s in nodes.items()}})
    out.sort(key=lambda r: r["time"])
    return out


# The fields of a node's answer the analysis reads, and what each must be.
_STATUS_INTS = ("term", "commit", "applied", "snapshot_index", "log_size")
_STATUS_TEXTS = ("role",)


def _status(s) -> dict | None:
    if not isinstance(s, dict):
        return None
    out = {}
    for k, v in s.items():
        if k in _STATUS_INTS:
            ok = type(v) is int
        elif k in _STATUS_TEXTS:
            ok = type(v) is str
        elif k in ("leader", "incarnation"):
            ok = type(v) in (str, int)
            v = str(v) if k == "leader" and ok else v
        else:
            ok = True
        if ok:
            out[k] = v
    return out


def term_of(status: dict | None) -> int | None:
    """The term a status answer gives, or None when its probe gives none."""
    t = status.get("term") if status else None
    return t if isinstance(t, int) and not isinstance(t, bool) else None


def has_terms(samples: list[dict]) -> bool:
    """Does the probe give terms (any answer with one)?"""
    return any(term_of(s) is not None for r in samples for s in r["nodes"].values())


def agreed_leader(round_: dict, cluster_size: int) -> tuple[object, int | None] | None:
    """(leader, term) when a majority of all nodes, the leader among them, agree on it (and on
    its term, when the probe gives terms); term None when it gives none."""
    nodes = round_["nodes"]
    best = None
    for lid, s in nodes.items():
        if not s or s.get("role") != "leader":
            continue
        term = term_of(s)
        # Systems name leaders their own way (node id, etcd member id): a follower
        # agrees when it names the leader the way the leader names itself.
        me = str(s.get("leader") or lid)
        votes = 1 + sum(1 for nid, o in nodes.items()
                        if nid != lid and o and term_of(o) == term and str(o.get("leader")) == me)
        if votes > cluster_size // 2 and (best is None or (term or 0) > (best[1] or 0)):
            best = (lid, term)
    return best


def _new_leader(agreed: tuple, current: tuple) -> bool:
    """With terms, a higher term is a new election (the same node may win it); without, another node."""
    if agreed[1] is not None and current[1] is not None:
        return agreed[1] > current[1]
    return agreed[0] != current[0]


def elections(samples: list[dict], cluster_size: int, nemesis: list[NemesisEvent] = (),
              detect_window_ms: float = 1000.0, no_quorum: list[dict] = ()) -> list[dict]:
    """Leaderless periods that ended with a new agreed leader, with their durations.

    `from` says where each is measured from: `lost` (the agreement ended),
    `fault` (a fault was in force when it ended, or had stopped at most
    `detect_window_ms` before: a slow failure detector's time counts) or
    `quorum` (a no-quorum interval, see `no_quorum`, ended within it). Without
    terms a change of the agreed leader is an election; with terms, an
    agreement on a higher term.
    """
    windows = fault_windows(nemesis)
    out = []
    current = None  # (leader, term) agreed so far
    lost_at = None
    held_at = None  # the last round that saw the current agreement
    for r in samples:
        agreed = agreed_leader(r, cluster_size)
        t = int(r["time"])
        if agreed is not None and (current is None or agreed == current or _new_leader(agreed, current)):
            if current is not None and _new_leader(agreed, current):
                # A switch seen between two rounds with no round of disagreement happened after the last
                # round that still saw the old agreement.
                t0, since = (lost_at if lost_at is not None else held_at), "lost"
                seen = lost_at if lost_at is not None else t
                # the latest fault in force when the agreement ended (or just over): its detection counts
                recent = [a for a, b in windows if a <= seen and b >= seen - detect_window_ms * 1e6]
                if recent:
                    t0, since = max(recent), "fault"
                healed = [iv["end"] for iv in no_quorum if t0 < iv["end"] <= t]
                if healed:
                    t0, since = max(healed), "quorum"
                out.append({"lost": t0, "elected": t, "ms": (t - t0) / 1e6, "from": since,
                            "old": current[0], "new": agreed[0], "term": agreed[1]})
            current, held_at = agreed, t
            lost_at = None
        elif agreed is None and lost_at is None and current is not None:
            lost_at = t
    return out


def fault_windows(nemesis: Iterable[NemesisEvent]) -> list[tuple[int, float]]:
    """(start, stop) of every fault as the schedule wrote its phases; a fault never stopped runs on."""
    out, open_ = [], {}
    for e in sorted(nemesis, key=lambda e: e.time):
        if e.starts_fault:
            open_.setdefault(e.fault, []).append(e.time)
        elif e.stops_all:
            out += [(t, e.time) for ts in open_.values() for t in ts]
            open_.clear()
        elif e.phase == "stop" and open_.get(e.fault):
            out.append((open_[e.fault].pop(0), e.time))
    out += [(t, math.inf) for ts in open_.values() for t in ts]
    return sorted(out)


def leader_spans(samples: list[dict], term: int, node) -> tuple[int, int] | None:
    """(first, last) time `node` answered that it led in `term`."""
    times = [int(r["time"]) for r in samples
             if (s := r["nodes"].get(node)) and s.get("role") == "leader" and term_of(s) == term]
    return (min(times), max(times)) if times else None


def leaders_per_term(samples: list[dict]) -> list[dict]:
    """Terms in which more than one node said it was the leader (Raft's election safety).

    Two nodes reporting leader in the same term, at any times, means two leaders
    were elected in it. One exception: a node seen leading in term t and next seen
    leading in a later term, with nothing in between, cannot have led in t as
    reported (a leader's term only grows after it steps down): its status read its
    role ahead of its term (etcd's status reads the leader id and raftTerm
    separately, and a new leader shows its old term for a moment). Such claims
    are set aside; a leader that steps down is seen as follower or candidate.
    """
    seen: dict[int, set] = {}
    for nid in {n for r in samples for n in r["nodes"]}:
        claims: list[int] = []  # terms of this node's current run of leader answers
        for r in samples:
            s = r["nodes"].get(nid)
            if not s or not isinstance(s.get("term"), int):
                continue
            if s.get("role") != "leader":
                for t in claims:
                    seen.setdefault(t, set()).add(nid)
                claims = []
            elif claims and s["term"] > claims[-1]:
                claims = [s["term"]]  # the earlier claims were the old term read with the new role
            else:
                claims.append(s["term"])
        for t in claims:
            seen.setdefault(t, set()).add(nid)
    return [{"term": t, "leaders": sorted(ids)} for t, ids in sorted(seen.items()) if len(ids) > 1]


def commit_regressions(samples: list[dict]) -> list[dict]:
    """Nodes whose commit index went back between two answers with no gap between them.

    Raft never uncommits: a running node's commit index only grows. A node that
    reports an `incarnation` (a token new at each process start) starts its count
    over when the token changes, so a status answer lost under load does not hide
    a regression; for one that does not, a missed round stands for a restart (a
    restart outlasts the sampling period). Systems that report no commit index
    are skipped.
    """
    last: dict[str, tuple[int, int, object]] = {}
    out = []
    for r in samples:
        for nid, s in r["nodes"].items():
            commit = s.get("commit") if s else None
            if not isinstance(commit, int):
                if not (nid in last and last[nid][2] is not None):
                    last.pop(nid, None)
                continue
            incarnation = s.get("incarnation")
            before = last.get(nid)
            if before is not None and before[2] != incarnation:
                before = None
            if before is not None and commit < before[1]:
                out.append({"node": nid, "time": r["time"], "from": before[1], "to": commit})
            last[nid] = (r["time"], commit, incarnation)
    return out


# --- the summary ------------------------------------------------------------------------


def _ms_summary(values: list[float]) -> dict:
    q = quantiles(values, (0.5, 0.99))
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in q.items()}


def cluster_nodes(samples: list[dict], cluster_size: int) -> list[str]:
    """Node ids from the status samples, padded to the cluster size with stand-ins
    (a stand-in is never named by a fault, so it is up and reaches everyone)."""
    ids = sorted({str(n) for r in samples for n in r["nodes"]})
    return ids + [f"?{i}" for i in range(cluster_size - len(ids))]


def no_quorum(h: History, samples: list[dict], cluster_size: int) -> list[dict]:
    """The intervals when no quorum was possible, with their seconds."""
    end = max([o.end or o.call for o in h.ops] + [e.time for e in h.nemesis] + [0])
    out = quorum.no_quorum_intervals(h.nemesis, cluster_nodes(samples, cluster_size), end)
    return [{**iv, "s": round((iv["end"] - iv["start"]) / NS, 3)} for iv in out]


def _rounded(q: dict) -> dict:
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in q.items()}


def summarize(h: History, samples: list[dict], cluster_size: int, linearizable: dict | None,
              load: Load | None = None, configured_s: float | None = None) -> dict:
    """The run's numbers and its verdict (`splitbrain.verdict`), from its recorded files."""
    from splitbrain import verdict

    load = load or Load()
    window = load_window(h, load, configured_s)
    lat = quantiles(latencies_ms(h))
    nq = no_quorum(h, samples, cluster_size)
    el = elections(samples, cluster_size, h.nemesis, no_quorum=nq)
    avail = availability(h, window)
    worst = max(avail, key=lambda f: (avail[f]["unavailable_s"], f), default=None)
    rec = recoveries(h, nq, window)
    kinds = sorted({o.f for o in h.ops if not is_final(o)})
    terms = has_terms(samples)
    two_leaders = leaders_per_term(samples) if terms else []
    regressions = commit_regressions(samples) if terms else []
    finals = [o for o in h.ops if is_final(o)]
    summary = {
        "t0": run_t0(h, load),
        "linearizable": linearizable,
        "ops": op_counts(h),
        "throughput_ops_s": round(throughput(h, window), 2),
        "load": {"window": list(window) if window else None,
                 "window_s": round((window[1] - window[0]) / NS, 3) if window else None,
                 "configured_s": load.run_time if load.run_time is not None else configured_s,
                 "users": load.users, "died": load.died,
                 # successful operations of any kind stopped, and never came back in the window
                 "ok_stopped_at": next((w["start"] for w in outages(h, window=window) if w["never_recovered"]),
                                       None)},
        "latency_ms": {k: v for k, v in _rounded(lat).items() if k in ("p50", "p95", "p99", "max", "count")},
        "latency_by_f_ms": {f: _rounded(quantiles(latencies_ms(h, fs={f}))) for f in kinds},
        "election_ms": _ms_summary([e["ms"] for e in el]),
        "elections": el,
        # whether the leader probe gives terms; None when no probe names a leader (no [leader] at all)
        "probe_terms": terms if any(st and st.get("role") == "leader" for r in samples for st in r["nodes"].values())
        else None,
        "no_quorum_s": round(sum(iv["end"] - iv["start"] for iv in nq) / NS, 3),
        "no_quorum": nq,
        "recovery_ms": _ms_summary([r["ms"] for r in rec if r["ms"] is not None]),
        "recoveries": rec,
        "never_recovered": sum(1 for r in rec if r["ms"] is None),
        "recovery_by_f_ms": {f: _ms_summary([r["ms"] for r in recoveries(h, nq, window, {f}) if r["ms"] is not None])
                             for f in kinds},
        "unavailable_s": avail[worst]["unavailable_s"] if worst else 0.0,
        "unavailable_kind": worst,
        "unavailable_windows": avail[worst]["windows"] if worst else [],
        "availability": avail,
        "final_read": {"keys": len({repr(o.key) for o in finals}), "ok": sum(1 for o in finals if o.status == "ok"),
                       **({"note": load.final_reads.get("note")} if load.final_reads and load.final_reads.get("note")
                          else {})},
        "nemesis": [{"time": e.time, "f": e.f, "fault": e.fault, "phase": e.phase, "value": e.value}
                    for e in h.nemesis],
        "history_torn_lines": int(h.torn is not None),
        "history_torn_line": h.torn.describe("history.jsonl") if h.torn is not None else None,
        "leaders_per_term_ok": (not two_leaders) if samples and terms else "unknown",
        "leaders_per_term": [{**x, "seen": {n: leader_spans(samples, x["term"], n) for n in x["leaders"]}}
                             for x in two_leaders],
        "commit_monotonic_ok": (not regressions) if samples and terms else "unknown",
        "commit_regressions": regressions,
    }
    return {**verdict.compose(summary), **summary}


def run_t0(h: History, load: Load | None = None) -> int | None:
    """The run's time zero: its first client operation (where the checker's witness sentences
    count from), else its first event. Every time a reader sees is relative to it."""
    calls = [o.call for o in h.ops]
    if calls:
        return min(calls)
    times = [t for t in (h.t0, load.start if load else None) if t is not None]
    return min(times) if times else None
