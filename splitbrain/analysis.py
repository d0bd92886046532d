"""Numbers from evidence: what a history and the node status samples say.

Everything here is a pure function of recorded files, so `splitbrain report`
computes the same summary from a finished run, a killed run, or a copy of
someone else's run directory.

Definitions (the report prints them):
- an operation is *client-visible ok* when its completion is `ok`; fail/info
  completions and invokes without completion are counted apart;
- recovery after a fault: from the nemesis step that starts it to the completion
  of the first `ok` write invoked at or after it (writes: write, cas, put,
  append, delete);
- unavailable: gaps between consecutive `ok` completions longer than
  `max(gap_floor, 10 x the median gap)`, summed;
- no quorum possible: the time when the faults in force (links cut, from each
  partition's grudge; nodes killed, paused or powered off) left no node that
  is up and talks both ways with enough up nodes to make a majority with
  itself, so no leader could be elected (`splitbrain/quorum.py`); reported
  apart, with the faults in force;
- election: from when the cluster stops agreeing on a leader (a majority of
  all nodes, the leader included, report the same leader in the same term)
  to when it agrees again on a leader of a higher term; when a nemesis fault
  started up to `detect_window` before the agreement ended, the election is
  measured from the fault, so the failure detection time counts, as it does
  for a client; when no quorum was possible for part of that time, it is
  measured from the moment a quorum became possible again (the heal, or the
  stop of the fault that prevented it).
"""
from __future__ import annotations

import math
import pathlib
from dataclasses import dataclass, field
from typing import Iterable

from checker.history import Operation, TornLine, load, pair
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
    paired = pair(events)
    nemesis = [NemesisEvent(int(ev.get("time", 0)), str(ev.get("f")), ev.get("value"), ev.get("fault"),
                            ev.get("phase")) for _, ev in paired.nemesis]
    return History(paired.ops, nemesis, getattr(events, "torn", None))


def load_history(path: pathlib.Path) -> History:
    return from_events(load(path))


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


def op_counts(h: History) -> dict:
    counts = {"ok": 0, "fail": 0, "info": 0}
    for o in h.ops:
        counts[o.status] = counts.get(o.status, 0) + 1
    counts["total"] = len(h.ops)
    return counts


def latencies_ms(h: History, types=("ok",), fs=None) -> list[float]:
    return [(o.end - o.call) / 1e6 for o in h.ops
            if o.end is not None and o.status in types and (fs is None or o.f in fs)]


def throughput(h: History) -> float:
    """ok operations per second over the span from first invoke to last completion."""
    oks = [o for o in h.ops if o.status == "ok" and o.end is not None]
    if not oks:
        return 0.0
    span = max(o.end for o in oks) - min(o.call for o in h.ops)
    return len(oks) / (span / NS) if span > 0 else 0.0


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


def recovery_ms(h: History) -> list[float]:
    """Per fault start: ms until the first ok write invoked at or after it completes."""
    writes = sorted((o for o in h.ops if o.status == "ok" and o.f in WRITE_FS and o.end is not None),
                    key=lambda o: o.call)
    starts = [o.call for o in writes]
    out = []
    import bisect

    for e in h.nemesis:
        if not e.starts_fault:
            continue
        i = bisect.bisect_left(starts, e.time)
        later = writes[i:]
        if later:
            out.append((min(o.end for o in later) - e.time) / 1e6)
    return out


def unavailable_windows(h: History, gap_floor_ms: float = 100.0) -> list[tuple[int, int]]:
    ends = sorted(o.end for o in h.ops if o.status == "ok" and o.end is not None)
    if len(ends) < 3:
        return []
    gaps = [b - a for a, b in zip(ends, ends[1:])]
    med = sorted(gaps)[len(gaps) // 2]
    limit = max(gap_floor_ms * 1e6, 10 * med)
    return [(a, b) for a, b in zip(ends, ends[1:]) if b - a > limit]


# --- elections from status samples -------------------------------------------------


def read_status_samples(path: pathlib.Path) -> list[dict]:
    """Rounds written by the monitor: {"time": ns, "nodes": {id: status|null}}."""
    if not path.exists():
        return []
    return [ev for ev in load(path) if "nodes" in ev]


def agreed_leader(round_: dict, cluster_size: int) -> tuple[object, int] | None:
    """(leader, term) when a majority of all nodes, the leader among them, agree."""
    nodes = round_["nodes"]
    leaders = [(s.get("term", 0), nid) for nid, s in nodes.items() if s and s.get("role") == "leader"]
    if not leaders:
        return None
    term, lid = max(leaders)
    # Systems name leaders their own way (node id, etcd member id): a follower
    # agrees when it names the leader the way the leader names itself.
    me = str(nodes[lid].get("leader") or lid)
    votes = 1 + sum(1 for nid, s in nodes.items()
                    if nid != lid and s and s.get("term") == term and str(s.get("leader")) == me)
    return (lid, term) if votes > cluster_size // 2 else None


def elections(samples: list[dict], cluster_size: int, nemesis: list[NemesisEvent] = (),
              detect_window_ms: float = 1000.0, no_quorum: list[dict] = ()) -> list[dict]:
    """Leaderless periods that ended with a new agreed leader, with their durations.

    `from` says where each is measured from: `lost` (the agreement ended),
    `fault` (a fault started just before) or `quorum` (a no-quorum interval,
    see `no_quorum`, ended within it).
    """
    starts = sorted(e.time for e in nemesis if e.starts_fault)
    out = []
    current = None  # (leader, term) agreed so far
    lost_at = None
    for r in samples:
        agreed = agreed_leader(r, cluster_size)
        t = int(r["time"])
        if agreed is not None and (current is None or agreed[1] > current[1] or agreed == current):
            if lost_at is not None and current is not None and agreed[1] > current[1]:
                t0, since = lost_at, "lost"
                recent = [s for s in starts if lost_at - detect_window_ms * 1e6 <= s <= lost_at]
                if recent:
                    t0, since = recent[-1], "fault"
                healed = [iv["end"] for iv in no_quorum if t0 < iv["end"] <= t]
                if healed:
                    t0, since = max(healed), "quorum"
                out.append({"lost": t0, "elected": t, "ms": (t - t0) / 1e6, "from": since,
                            "old": current[0], "new": agreed[0], "term": agreed[1]})
            current = agreed
            lost_at = None
        elif agreed is None and lost_at is None and current is not None:
            lost_at = t
    return out


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


def summarize(h: History, samples: list[dict], cluster_size: int, linearizable: dict | None) -> dict:
    lat = quantiles(latencies_ms(h))
    nq = no_quorum(h, samples, cluster_size)
    el = elections(samples, cluster_size, h.nemesis, no_quorum=nq)
    unavailable = unavailable_windows(h)
    lin_valid = linearizable.get("valid") if linearizable else "unknown"
    return {
        "valid": lin_valid,
        "linearizable": linearizable,
        "ops": op_counts(h),
        "throughput_ops_s": round(throughput(h), 2),
        "latency_ms": {k: (round(v, 3) if isinstance(v, float) else v)
                       for k, v in lat.items() if k in ("p50", "p95", "p99", "max", "count")},
        "latency_by_f_ms": {f: {k: (round(v, 3) if isinstance(v, float) else v)
                                for k, v in quantiles(latencies_ms(h, fs={f})).items()}
                            for f in sorted({o.f for o in h.ops})},
        "election_ms": _ms_summary([e["ms"] for e in el]),
        "elections": el,
        "no_quorum_s": round(sum(iv["end"] - iv["start"] for iv in nq) / NS, 3),
        "no_quorum": nq,
        "recovery_ms": _ms_summary(recovery_ms(h)),
        "unavailable_s": round(sum(b - a for a, b in unavailable) / NS, 3),
        "unavailable_windows": [[a, b] for a, b in unavailable],
        "nemesis": [{"time": e.time, "f": e.f, "fault": e.fault, "phase": e.phase, "value": e.value}
                    for e in h.nemesis],
        "history_torn_lines": int(h.torn is not None),
        "leaders_per_term_ok": not leaders_per_term(samples) if samples else "unknown",
        "leaders_per_term": leaders_per_term(samples),
        "commit_monotonic_ok": not commit_regressions(samples) if samples else "unknown",
        "commit_regressions": commit_regressions(samples),
    }
