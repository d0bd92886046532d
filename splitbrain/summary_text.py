"""The few lines a terminal shows at the end of a run or report."""
from __future__ import annotations


def _q(d: dict, unit: str = "ms") -> str:
    if not d or not d.get("count"):
        return "none measured"
    parts = [f"{k} {d[k]:.0f}{unit}" for k in ("p50", "p99", "max") if d.get(k) is not None]
    return f"n={d['count']}, " + ", ".join(parts)


def no_quorum(s: dict) -> str:
    """"3.9 s, partition-majorities-ring": the time no majority could talk, and the faults that did it."""
    faults = sorted({f for iv in s.get("no_quorum") or [] for f in iv.get("faults", [])})
    return f"{s.get('no_quorum_s') or 0:.1f} s" + (", " + ", ".join(faults) if faults else "")


def short(run_dir, s: dict) -> str:
    v = s.get("valid")
    word = {True: "linearizable", False: "NOT LINEARIZABLE"}.get(v, "unknown")
    lin = s.get("linearizable") or {}
    lat = s.get("latency_ms") or {}
    lines = [
        f"verdict: {word}" + (f" ({lin.get('error')})" if lin.get("error") else ""),
        f"ops: {s['ops']['ok']} ok, {s['ops']['fail']} fail, {s['ops']['info']} info; "
        f"{s['throughput_ops_s']:.0f} ok ops/s",
        "latency: " + ", ".join(f"{k} {lat[k]:.1f}ms" for k in ("p50", "p95", "p99", "max") if lat.get(k) is not None),
        f"elections: {_q(s.get('election_ms'))}",
        f"no quorum possible: {no_quorum(s)}",
        f"recovery after faults: {_q(s.get('recovery_ms'))}",
        f"unavailable: {s.get('unavailable_s', 0):.2f}s",
    ]
    for f in (lin.get("failing") or [])[:3]:
        lines.append(f"violation: {f}")
    lines.append(f"report: {run_dir}/report.html")
    return "\n".join(lines)


def exit_code(s: dict) -> int:
    """As `splitbrain check`: 0 valid, 1 violation, 3 unknown."""
    return {True: 0, False: 1}.get(s.get("valid"), 3)
