"""Ratios, targets (PASS/FAIL) and the Markdown table for the README."""
from __future__ import annotations

import math

from bench.kv.stats import median, percentile, ratio, ratio_spread

ELECTION_MEDIAN_MS, ELECTION_P99_MS, RECOVERY_P99_MS = 200, 400, 1000
READINDEX_VS_LOG_P99 = 1 / 3
WRITE_VS_ETCD, WRITE_VS_PYSYNCOBJ = 0.9, 2.0  # issue #23: >= 0.9x etcd, >= 2x PySyncObj (stretch: 1.0x etcd)
REF, ETCD, PSO = "refkv", "etcd-10/100", "pysyncobj"


def _get(d: dict, *path, default=math.nan):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return default
        d = d[p]
    return d


def targets(r: dict) -> list[tuple[str, str, bool]]:
    """-> (target, measured, passed) for every target of the issue."""
    out = []
    el = _get(r, "failover", REF, "election_ms", default=[])
    rec = _get(r, "failover", REF, "recovery_ms", default=[])
    failed = _get(r, "failover", REF, "failed", default=0)
    em, ep = median(el), percentile(el, 0.99)
    out.append((f"election median < {ELECTION_MEDIAN_MS} ms", f"{em:.0f} ms (n={len(el)}, {failed} failed)",
                em < ELECTION_MEDIAN_MS and not failed))
    out.append((f"election P99 < {ELECTION_P99_MS} ms", f"{ep:.0f} ms", ep < ELECTION_P99_MS and not failed))
    rp = percentile(rec, 0.99)
    out.append((f"client recovery P99 < {RECOVERY_P99_MS} ms", f"{rp:.0f} ms (n={len(rec)})",
                rp < RECOVERY_P99_MS and len(rec) == len(el) + failed))
    fr = r.get("fixed_rate", {})
    ri, lg = _get(fr, "readindex", "p99_ms"), _get(fr, "log", "p99_ms")
    q = ratio(ri, lg)
    out.append((f"ReadIndex P99 <= 1/3 log-read P99 at {_get(fr, 'rate'):.0f} reads/s",
                f"{ri:.2f} / {lg:.2f} ms = {q:.2f}", q <= READINDEX_VS_LOG_P99))
    w = _get(r, "load", REF, "write", "throughput")
    for peer, name, target in ((ETCD, "etcd", WRITE_VS_ETCD), (PSO, "PySyncObj", WRITE_VS_PYSYNCOBJ)):
        wp = _get(r, "load", peer, "write", "throughput")
        out.append((f"write throughput >= {target}x {name}",
                    f"{w:.0f} / {wp:.0f} ops/s = {ratio(w, wp):.2f}x ({_write_ratio_spread(r, peer)})",
                    ratio(w, wp) >= target))
    return out


def _write_ratio_spread(r: dict, peer: str) -> str:
    runs = [[x["throughput"] for x in _get(r, "load", s, "write", "runs", default=[])] for s in (REF, peer)]
    return ratio_spread(*runs)


def _loads(r: dict) -> str:
    """The load average (1 min) when each system's figures were taken."""
    la = r.get("loadavg", {})
    return ", ".join(f"{s} {v['before'][0]:.1f}-{v['after'][0]:.1f}" for s, v in la.items()) or "not recorded"


def render(r: dict) -> tuple[str, bool]:
    lines = ["", "== ratios (reference KV / peer, medians of repeats)"]
    load = r.get("load", {})
    ref = load.get(REF, {})
    for peer in (ETCD, PSO):
        for op in ("write",):
            a, b = _get(ref, op, "throughput"), _get(load, peer, op, "throughput")
            lines.append(f"  {op} throughput vs {peer}: {ratio(a, b):.2f}x, runs {_write_ratio_spread(r, peer)} "
                         f"({a:.0f} vs {b:.0f} ops/s)")
            a, b = _get(ref, op, "p99_ms"), _get(load, peer, op, "p99_ms")
            lines.append(f"  {op} P99 vs {peer}: {ratio(a, b):.2f}x ({a:.1f} vs {b:.1f} ms)")
    a, b = _get(ref, "read readindex", "throughput"), _get(load, ETCD, "read linearizable", "throughput")
    lines.append(f"  linearizable read throughput vs etcd: {ratio(a, b):.2f}x ({a:.0f} vs {b:.0f} ops/s)")
    ea, eb = (median(_get(r, "failover", s, "election_ms", default=[])) for s in (REF, ETCD))
    lines.append(f"  election median vs etcd (10/100 ms): {ratio(ea, eb):.2f}x ({ea:.0f} vs {eb:.0f} ms)")
    lines.append(f"  load average (1 min) before-after each system: {_loads(r)}")

    lines += ["", "== targets"]
    ok = True
    for name, measured, passed in targets(r):
        ok &= passed
        lines.append(f"  {'PASS' if passed else 'FAIL'}  {name}: {measured}")

    lines += ["", "== Markdown", "", markdown(r)]
    return "\n".join(lines), ok


def markdown(r: dict) -> str:
    m = r.get("machine", {})
    s = r.get("settings", {})
    rows = [f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gib')} GiB, data on "
            f"{m.get('data_dir_fs')}; {m.get('etcd')}, PySyncObj {m.get('pysyncobj')}. Load: "
            f"{s.get('concurrency')} client threads in {s.get('processes')} processes, 3 nodes per system on "
            f"loopback, {s.get('duration_s')} s x {s.get('repeats')} per figure (median, min-max). "
            f"Load average (1 min) before-after each system: {_loads(r)}.", "",
            "| system | operation | ops/s (min-max) | P50 ms | P99 ms |", "|---|---|---|---|---|"]
    for system, ops in r.get("load", {}).items():
        for op, v in ops.items():
            rows.append(f"| {system} | {op} | {_get(v, 'throughput'):.0f} ({v.get('throughput_spread', '-')}) | "
                        f"{_get(v, 'p50_ms'):.2f} | {_get(v, 'p99_ms'):.2f} |")
    fr = r.get("fixed_rate", {})
    if fr:
        rows += ["", f"Fixed rate, reference KV, {_get(fr, 'rate'):.0f} reads/s (latency from when each request was due):",
                 "", "| read mode | P50 ms | P99 ms (min-max) |", "|---|---|---|"]
        for mode in ("readindex", "log"):
            v = fr.get(mode)
            if v:
                rows.append(f"| {mode} | {_get(v, 'p50_ms'):.2f} | {_get(v, 'p99_ms'):.2f} ({v.get('p99_spread', '-')}) |")
    fo = r.get("failover", {})
    if fo:
        rows += ["", "SIGKILL the leader (new leader seen by polling /status every 5 ms; recovery = first write "
                 "completed by `reference_kv.client.Client`):", "",
                 "| system | trials | election median ms | election P99 ms | recovery median ms | recovery P99 ms |",
                 "|---|---|---|---|---|---|"]
        for system, v in fo.items():
            el, rec = v["election_ms"], v["recovery_ms"]
            rec_cols = f"{median(rec):.0f} | {percentile(rec, 0.99):.0f}" if rec else "- | -"
            fail = f" ({v['failed']} without leader in 10 s)" if v["failed"] else ""
            rows.append(f"| {system} | {v['trials']}{fail} | {median(el):.0f} | {percentile(el, 0.99):.0f} | {rec_cols} |")
    rows += ["", "| target | measured | |", "|---|---|---|"]
    for name, measured, passed in targets(r):
        rows.append(f"| {name} | {measured} | {'PASS' if passed else 'FAIL'} |")
    return "\n".join(rows)
