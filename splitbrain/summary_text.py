"""The few lines a terminal shows at the end of a run or report."""
from __future__ import annotations

from checker.core import EMPTY, UNKNOWN
from splitbrain import verdict


def _q(d: dict, unit: str = "ms") -> str:
    if not d or not d.get("count"):
        return "none measured"
    parts = [f"{k} {d[k]:.0f}{unit}" for k in ("p50", "p99", "max") if d.get(k) is not None]
    return f"n={d['count']}, " + ", ".join(parts)


def no_quorum(s: dict) -> str:
    """"3.9 s, partition-majorities-ring": the time no majority could talk, and the faults that did it."""
    faults = sorted({f for iv in s.get("no_quorum") or [] for f in iv.get("faults", [])})
    return f"{s.get('no_quorum_s') or 0:.1f} s" + (", " + ", ".join(faults) if faults else "")


def recovery(s: dict) -> str:
    """Writes' recovery after faults, and how many faults it never came after."""
    text = _q(s.get("recovery_ms"))
    never = s.get("never_recovered") or 0
    return text + (f"; never recovered after {never} fault{'s' * (never != 1)}" if never else "")


def unavailable(s: dict) -> str:
    """"write 52.10 s (never recovered), read 0.20 s": per operation kind, worst first."""
    avail = s.get("availability") or {}
    if not avail:
        return f"{s.get('unavailable_s', 0):.2f}s"
    kinds = sorted(avail, key=lambda f: (-avail[f]["unavailable_s"], f))
    return ", ".join(f"{f} {avail[f]['unavailable_s']:.2f} s" + (" (never recovered)" if avail[f]["never_recovered"]
                                                                else "") for f in kinds)


def ops(s: dict) -> str:
    o = s["ops"]
    mismatch = f", {o['cas_mismatch']} cas mismatch" if o.get("cas_mismatch") else ""
    return f"{o['ok']} ok, {o['fail']} fail, {o['info']} info{mismatch}"


def throughput(s: dict) -> str:
    load = s.get("load") or {}
    window = f" over the {load['window_s']:.1f} s load window" if load.get("window_s") else ""
    return f"{s['throughput_ops_s']:.0f} ok ops/s{window}"


def short(run_dir, s: dict) -> str:
    lat = s.get("latency_ms") or {}
    lines = [
        f"verdict: {verdict.headline(s)}",
        *(f"warning: {w['text']}" for w in s.get("warnings") or []),
        f"ops: {ops(s)}; {throughput(s)}",
        "latency: " + ", ".join(f"{k} {lat[k]:.1f}ms" for k in ("p50", "p95", "p99", "max") if lat.get(k) is not None),
        f"elections: {_q(s.get('election_ms'))}",
        f"no quorum possible: {no_quorum(s)}",
        f"recovery after faults (writes): {recovery(s)}",
        f"unavailable: {unavailable(s)}",
    ]
    fr = s.get("final_read") or {}
    if fr.get("keys"):
        lines.append(f"final read: {fr['keys']} keys, {fr['ok']} read ok")
    lin = s.get("linearizable") or {}
    for w in (lin.get("witnesses") or [])[:3]:
        lines.append(f"violation: key {w['key']}: {w['sentence']}")
    failing = lin.get("failing") or []
    if len(failing) > 3:
        lines.append(f"... {len(failing) - 3} more failing keys in the report")
    lines.append(f"report: {run_dir}/report.html")
    return "\n".join(lines)


# Exit statuses of a verdict (`splitbrain check`, `run`, `report`), and which one wins when several files are checked.
EXIT = {True: 0, False: 1, UNKNOWN: 3, EMPTY: 4}
SEVERITY = (1, 2, 3, 4, 0)


def exit_code(s: dict) -> int:
    """0 valid, 1 violation, 3 unknown, 4 no operations (an empty history proves nothing)."""
    return EXIT.get(s.get("valid"), 3)
