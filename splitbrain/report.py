"""report.html: one self-contained, offline page per run, that points at the anomaly.

The page is a Jinja2 template with autoescaping (splitbrain/templates/report.html.j2),
as linearizability.html is (checker/templates/). It shows the verdict with its reasons
and warnings (splitbrain.verdict, the same words stdout and summary.json carry), the
figures, then every failing key, grouped by the fault window its anomaly fell in, each
with its own anchor, the checker's witness (its one sentence and its operations, with
the node that served each) and a timeline of the key with the fault windows drawn on it.
Times are seconds since the run's first operation, as in the witness sentences.
Whole-run plots are rendered with matplotlib (Agg) to PNG and inlined as data URIs.
"""
from __future__ import annotations

import base64
import functools
import io
import json
import pathlib
import re

from splitbrain import analysis, rundir, summary_text, verdict

TYPE_COLOURS = {"ok": "#2a9d8f", "mismatch": "#8d99ae", "fail": "#e63946", "info": "#f4a261"}
TYPE_LABELS = {"ok": "ok", "mismatch": "cas mismatch", "fail": "fail (error)", "info": "info (unknown)"}
UNKNOWN_FAULT_COLOUR = "#dddddd"  # a fault this version does not have (a run recorded by another)
TICKS_PER_KEY = 600  # operations drawn on a key's whole-run strip (evenly thinned beyond that)


@functools.lru_cache(maxsize=1)
def environment():
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("splitbrain", "templates"),
                              autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
                              trim_blocks=True, lstrip_blocks=True)


def fault_colours() -> dict[str, str]:
    """Each fault package's own colour, by its name."""
    from nemesis import faults

    return {p.name: p.colour for p in faults.catalogue()}


# -- whole-run plots -------------------------------------------------------------------------------


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _shade(ax, periods, t0, colours):
    seen = set()
    for p in periods:
        label = p["fault"] if p["fault"] not in seen else None
        seen.add(p["fault"])
        ax.axvspan((p["start"] - t0) / 1e9, (p["end"] - t0) / 1e9, color=colours.get(p["fault"], UNKNOWN_FAULT_COLOUR),
                   alpha=0.35, label=label, lw=0)


def plots(h: analysis.History, summary: dict, t0: int) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, str] = {}
    periods = analysis.nemesis_periods(h)
    colours = fault_colours()
    done = [o for o in h.ops if o.end is not None]

    fig, ax = plt.subplots(figsize=(11, 3.6))
    _shade(ax, periods, t0, colours)
    for typ, colour in TYPE_COLOURS.items():
        pts = [((o.end - t0) / 1e9, (o.end - o.call) / 1e6) for o in done if analysis.outcome(o) == typ]
        if pts:
            xs, ys = zip(*pts)
            ax.scatter(xs, ys, s=4, c=colour, label=f"{TYPE_LABELS[typ]} ({len(pts)})", alpha=0.7, lw=0)
    ax.set_yscale("log")
    ax.set_xlabel("time since the first operation (s)")
    ax.set_ylabel("latency (ms)")
    ax.set_title("Latency of every operation, by outcome; fault windows shaded")
    if ax.get_legend_handles_labels()[0]:  # an empty history draws nothing to name
        ax.legend(loc="upper right", fontsize=8, ncol=4)
    out["latency_time"] = _png(fig)

    fig, ax = plt.subplots(figsize=(11, 3.0))
    _shade(ax, periods, t0, colours)
    if done:
        span = max(o.end for o in done) - t0
        bins = max(1, int(span / 1e9 * 4))  # quarter-second bins
        width = span / 1e9 / bins
        for typ, colour in TYPE_COLOURS.items():
            xs = [(o.end - t0) / 1e9 for o in done if analysis.outcome(o) == typ]
            if xs:
                counts, edges = _hist(xs, bins, span / 1e9)
                ax.step(edges[:-1], [c / width for c in counts], where="post", c=colour, label=TYPE_LABELS[typ])
    window = (summary.get("load") or {}).get("window")
    if window:
        for edge in window:
            ax.axvline((edge - t0) / 1e9, color="#555", lw=0.8, ls=":")
    ax.set_xlabel("time since the first operation (s); dotted: the load window")
    ax.set_ylabel("ops/s")
    ax.set_title("Throughput by outcome (0.25 s bins); cas mismatches apart from failures")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize=8)
    out["throughput_time"] = _png(fig)

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.0))
    lat = sorted(analysis.latencies_ms(h))
    if lat:
        axes[0].plot(lat, [i / len(lat) for i in range(1, len(lat) + 1)], c="#264653")
        axes[0].set_xscale("log")
    axes[0].set_title("Latency CDF (ok ops)")
    axes[0].set_xlabel("ms")
    recovered = [r["ms"] for r in summary.get("recoveries", []) if r.get("ms") is not None]
    for ax, vals, title in ((axes[1], [e["ms"] for e in summary.get("elections", [])], "Elections"),
                            (axes[2], recovered, "Recovery after faults (writes)")):
        if vals:
            ax.hist(vals, bins=min(20, max(3, len(vals))), color="#457b9d")
        ax.set_title(f"{title} (n={len(vals)})")
        ax.set_xlabel("ms")
    fig.tight_layout()
    out["distributions"] = _png(fig)
    return out


def _hist(xs, bins, span):
    counts = [0] * bins
    for x in xs:
        counts[min(bins - 1, int(x / span * bins))] += 1
    edges = [i * span / bins for i in range(bins + 1)]
    return counts, edges


# -- figures -----------------------------------------------------------------------------------------


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.1f}" if abs(v) >= 10 else f"{v:.3g}"
    return str(v)


def _q(d: dict | None, keys=("p50", "p99", "max")) -> str:
    d = d or {}
    return f"{d.get('count', 0)}: " + " / ".join(_fmt(d.get(k)) for k in keys)


def _rel(t, t0) -> float | None:
    return None if t is None or t0 is None else (t - t0) / 1e9


def figures(summary: dict) -> list[tuple[str, str]]:
    s = summary
    rows = [
        ("operations", summary_text.ops(s)),
        ("throughput", summary_text.throughput(s)),
        ("latency p50 / p95 / p99 / max (ms)", " / ".join(_fmt(s["latency_ms"].get(k))
                                                          for k in ("p50", "p95", "p99", "max"))),
        ("elections: count: p50 / p99 / max (ms)", _q(s.get("election_ms"))),
        ("no quorum possible", summary_text.no_quorum(s)),
        ("recovery after faults (writes): count: p50 / p99 / max (ms)",
         _q(s.get("recovery_ms")) + (f"; never recovered after {s['never_recovered']}" if s.get("never_recovered")
                                     else "")),
        ("unavailable, worst kind", summary_text.unavailable(s).split(", ")[0] if s.get("availability") else "0"),
        ("final read", f"{s['final_read']['keys']} keys, {s['final_read']['ok']} read ok"
         if (s.get("final_read") or {}).get("keys") else "no key had an acknowledged write"),
    ]
    lin = s.get("linearizable") or {}
    rows.append(("linearizability check", f"{_fmt(lin.get('partitions'))} keys, {_fmt(lin.get('ops'))} ops, "
                                          f"{_fmt(lin.get('seconds'))} s"))
    if s.get("regions"):
        rows.append(("regions", _fmt(s["regions"].get("count"))))
    return rows


def kinds_table(summary: dict) -> list[dict]:
    """Per operation kind: latency, availability, recovery."""
    avail = summary.get("availability") or {}
    out = []
    for f, a in avail.items():
        lat = (summary.get("latency_by_f_ms") or {}).get(f) or {}
        rec = (summary.get("recovery_by_f_ms") or {}).get(f) or {}
        out.append({"f": f, "ok": lat.get("count"), "p50": _fmt(lat.get("p50")), "p99": _fmt(lat.get("p99")),
                    "unavailable": f"{a['unavailable_s']:.2f}", "never": a["never_recovered"],
                    "recovery": _q(rec)})
    return out


# -- failing keys --------------------------------------------------------------------------------------


def _slug(key) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(key)).strip("-")[:40] or "key"


def _kind_label(w: dict) -> str | None:
    """The anomaly the checker named, refined by what only the suite knows: a final read
    (after the final heal) that misses an acknowledged write is a lost write."""
    from checker.witness import KINDS

    kind = w.get("kind")
    if kind in ("stale-read", "lost-append") and any(_is_final(op) for op in w.get("ops") or []):
        return "lost write"
    return KINDS.get(kind) if kind else None


def _is_final(op: dict) -> bool:
    from workloads.final import is_final_process

    return is_final_process(op.get("process"))


def _window_of(t, periods, heal) -> tuple:
    """(sort order, label, start, end) of the fault window time t fell in."""
    inside = [p for p in periods if p["start"] <= t <= p["end"]]
    if inside:
        p = min(inside, key=lambda p: p["start"])
        return (p["start"], p["fault"], p["start"], p["end"])
    if heal is not None and t >= heal:
        return (heal, "after the final heal", heal, None)
    return (-1, "outside any fault window", None, None)


def failing_keys(h: analysis.History, summary: dict, t0: int) -> list[dict]:
    """Every failing key, grouped by the fault window its anomaly fell in (in run order)."""
    lin = summary.get("linearizable") or {}
    failing = lin.get("failing") or []
    if not failing:
        return []
    witnesses = {str(w["key"]): w for w in lin.get("witnesses") or []}
    periods = analysis.nemesis_periods(h)
    heal = next((e.time for e in reversed(h.nemesis) if e.stops_all), None)
    by_key: dict[str, list] = {}
    for o in h.ops:
        by_key.setdefault(str(o.key), []).append(o)
    end = max([o.end or o.call for o in h.ops] + [e.time for e in h.nemesis] + [t0])
    groups: dict[tuple, dict] = {}
    for i, f in enumerate(failing):
        key = str(f["key"])
        w = witnesses.get(key)
        ops = by_key.get(key, [])
        served = {(o.process, o.call): o for o in ops}
        entry = {"key": key, "anchor": f"key-{i + 1}-{_slug(key)}", "ops": len(ops),
                 "sentence": w["sentence"] if w else None, "kind": _kind_label(w) if w else None,
                 "confirmed": w.get("confirmed") if w else None, "rows": []}
        marks = []
        for op in (w or {}).get("ops") or []:
            o = served.get((op["process"], op["call_time"]))
            ret = op.get("return_time")
            entry["rows"].append({"process": op["process"], "op": op["op"], "status": op["status"],
                                  "node": getattr(o, "node", None) or "–", "final": _is_final(op),
                                  "call": _rel(op["call_time"], t0), "ret": _rel(ret, t0)})
            marks.append((op["call_time"], ret))
        at = max((c for c, _ in marks), default=None)
        if at is None and f.get("cannot_place") and ops:
            at = ops[min(f.get("linearizable_prefix") or 0, len(ops) - 1)].call
        if at is None:
            at = ops[0].call if ops else t0
        entry["timeline"] = _timeline(ops, marks, periods, t0, end)
        order, label, start, stop = _window_of(at, periods, heal)
        g = groups.setdefault((order, label), {"label": label, "start": _rel(start, t0), "end": _rel(stop, t0),
                                               "keys": []})
        g["keys"].append(entry)
    return [groups[k] for k in sorted(groups)]


def _timeline(ops, marks, periods, t0, end) -> dict:
    """A key's timeline as the template draws it (SVG, positions in 0..1000): the whole run with
    its fault windows, the key's operations and where the witness sits; then the witness's
    stretch of time, zoomed, with its operations as bars."""
    colours = fault_colours()
    span = max(end - t0, 1)
    x = lambda t: round(1000 * (t - t0) / span, 1)
    step = max(1, len(ops) // TICKS_PER_KEY)
    whole = {"faults": [{"x": x(p["start"]), "w": max(1.0, x(p["end"]) - x(p["start"])), "name": p["fault"],
                         "colour": colours.get(p["fault"], UNKNOWN_FAULT_COLOUR)} for p in periods],
             "ticks": [{"x": x(o.call), "colour": TYPE_COLOURS.get(analysis.outcome(o), "#999")}
                       for o in ops[::step]],
             "axis": [{"x": x(t0 + s * 1e9), "label": f"{s:g}"} for s in _axis_steps(span / 1e9)]}
    if not marks:
        return {"whole": whole, "zoom": None}
    lo = min(c for c, _ in marks)
    hi = max(r if r is not None else c for c, r in marks)
    pad = max((hi - lo) * 0.1, 5e6)
    a, b = lo - pad, hi + pad
    zx = lambda t: round(1000 * (min(max(t, a), b) - a) / (b - a), 1)
    whole["witness"] = {"x": x(a), "w": max(2.0, x(b) - x(a))}
    zoom = {"faults": [{"x": zx(p["start"]), "w": zx(p["end"]) - zx(p["start"]), "name": p["fault"],
                        "colour": colours.get(p["fault"], UNKNOWN_FAULT_COLOUR)}
                       for p in periods if p["end"] >= a and p["start"] <= b],
            "bars": [{"x": zx(c), "w": max(2.0, (zx(r) if r is not None else 1000) - zx(c)), "open": r is None}
                     for c, r in marks],
            "from": f"{(a - t0) / 1e9:.3f}", "to": f"{(b - t0) / 1e9:.3f}"}
    return {"whole": whole, "zoom": zoom}


def _axis_steps(seconds: float) -> list[float]:
    step = next(s for s in (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 1e9) if seconds / s <= 12)
    return [i * step for i in range(int(seconds / step) + 1)]


# -- the page ----------------------------------------------------------------------------------------


def render(run: pathlib.Path, h: analysis.History, summary: dict, config: dict) -> str:
    t0 = summary.get("t0") or h.t0 or 0
    word = summary.get("verdict") or verdict.compose(summary)["verdict"]
    lin = summary.get("linearizable") or {}
    checked = lin.get("valid")
    nodes = sorted(p for p in (run / "nodes").glob("*") if p.is_dir()) if (run / "nodes").is_dir() else []
    groups = failing_keys(h, summary, t0)
    return environment().get_template("report.html.j2").render(
        run=run.name, verdict=word,
        verdict_class={verdict.LINEARIZABLE: "ok", verdict.NOT_LINEARIZABLE: "bad", verdict.UNSAFE: "bad"}.get(
            word, "unk"),
        reasons=summary.get("reasons") or [],
        warnings=summary.get("warnings") or [],
        checker_word={True: "linearizable", False: "NOT linearizable",
                      "empty": "no operations"}.get(checked, "unknown"),
        figures=figures(summary), kinds=kinds_table(summary), groups=groups,
        failing_count=sum(len(g["keys"]) for g in groups),
        plots=plots(h, summary, t0),
        elections=[{"at": _rel(e["elected"], t0), "old": e["old"], "new": e["new"], "term": e["term"],
                    "ms": e["ms"], "from": e["from"]} for e in summary.get("elections") or []],
        recoveries=[{"fault": r["fault"], "at": _rel(r["start"], t0), "from": r["from"],
                     "since": _rel(r["measured_from"], t0), "ms": r["ms"]} for r in summary.get("recoveries") or []],
        nemesis=[{"at": _rel(e["time"], t0), "f": e["f"], "fault": e.get("fault"), "phase": e.get("phase"),
                  "value": json.dumps(e["value"], default=str)} for e in summary.get("nemesis") or []],
        died=[{"at": _rel(d.get("time"), t0), "user": d.get("user"), "error": d.get("error")}
              for d in (summary.get("load") or {}).get("died") or []],
        definitions=analysis.__doc__.split("Definitions (the report prints them):")[-1].strip(),
        lin_file=rundir.LINEARIZABILITY if (run / rundir.LINEARIZABILITY).exists() else None,
        logs=[f"{n.name}/{f.name}" for n in nodes for f in sorted(n.iterdir()) if f.is_file()],
        config=json.dumps(config, indent=2, default=str))
