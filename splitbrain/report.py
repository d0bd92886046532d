"""report.html: one self-contained, offline page per run.

Plots are rendered with matplotlib (Agg) to PNG and inlined as data URIs, so
the page opens from a copied run directory with no network and no server.
"""
from __future__ import annotations

import base64
import html
import io
import json
import pathlib

from splitbrain import analysis, rundir, summary_text

TYPE_COLOURS = {"ok": "#2a9d8f", "fail": "#e63946", "info": "#f4a261"}
UNKNOWN_FAULT_COLOUR = "#dddddd"  # a fault this version does not have (a run recorded by another)


def fault_colours() -> dict[str, str]:
    """Each fault package's own colour, by its name."""
    from nemesis import faults

    return {p.name: p.colour for p in faults.catalogue()}


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


def plots(h: analysis.History, summary: dict) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, str] = {}
    t0 = h.t0 or 0
    periods = analysis.nemesis_periods(h)
    colours = fault_colours()
    done = [o for o in h.ops if o.end is not None]

    fig, ax = plt.subplots(figsize=(11, 3.6))
    _shade(ax, periods, t0, colours)
    for typ, colour in TYPE_COLOURS.items():
        pts = [((o.end - t0) / 1e9, (o.end - o.call) / 1e6) for o in done if o.status == typ]
        if pts:
            xs, ys = zip(*pts)
            ax.scatter(xs, ys, s=4, c=colour, label=f"{typ} ({len(pts)})", alpha=0.7, lw=0)
    ax.set_yscale("log")
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("latency (ms)")
    ax.set_title("Latency of every operation, by outcome; nemesis periods shaded")
    ax.legend(loc="upper right", fontsize=8, ncol=4)
    out["latency_time"] = _png(fig)

    fig, ax = plt.subplots(figsize=(11, 3.0))
    _shade(ax, periods, t0, colours)
    if done:
        span = max(o.end for o in done) - t0
        bins = max(1, int(span / 1e9 * 4))  # quarter-second bins
        width = span / 1e9 / bins
        for typ, colour in TYPE_COLOURS.items():
            xs = [(o.end - t0) / 1e9 for o in done if o.status == typ]
            if xs:
                counts, edges = _hist(xs, bins, span / 1e9)
                ax.step(edges[:-1], [c / width for c in counts], where="post", c=colour, label=typ)
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("ops/s")
    ax.set_title("Throughput by outcome (0.25 s bins)")
    ax.legend(loc="upper right", fontsize=8)
    out["throughput_time"] = _png(fig)

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.0))
    lat = sorted(analysis.latencies_ms(h))
    if lat:
        axes[0].plot(lat, [i / len(lat) for i in range(1, len(lat) + 1)], c="#264653")
        axes[0].set_xscale("log")
    axes[0].set_title("Latency CDF (ok ops)")
    axes[0].set_xlabel("ms")
    for ax, key, title in ((axes[1], "elections", "Elections"), (axes[2], None, "Recovery after faults")):
        vals = [e["ms"] for e in summary.get("elections", [])] if key else analysis.recovery_ms(h)
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


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.1f}" if abs(v) >= 10 else f"{v:.3g}"
    return html.escape(str(v))


def _verdict(valid) -> tuple[str, str]:
    if valid is True:
        return "linearizable", "#2a9d8f"
    if valid is False:
        return "NOT linearizable", "#e63946"
    return "unknown", "#e9c46a"


def render(run: pathlib.Path, h: analysis.History, summary: dict, config: dict) -> str:
    imgs = plots(h, summary)
    word, colour = _verdict(summary.get("valid"))
    lin = summary.get("linearizable") or {}
    rows = [
        ("operations ok / fail / info", "{ok} / {fail} / {info}".format(**summary["ops"])),
        ("throughput (ok ops/s)", _fmt(summary["throughput_ops_s"])),
        ("latency p50 / p95 / p99 / max (ms)", " / ".join(_fmt(summary["latency_ms"].get(k)) for k in ("p50", "p95", "p99", "max"))),
        ("elections: count, p50 / p99 / max (ms)", f"{summary['election_ms']['count']}, " + " / ".join(_fmt(summary["election_ms"].get(k)) for k in ("p50", "p99", "max"))),
        ("no quorum possible", html.escape(summary_text.no_quorum(summary))),
        ("recovery after faults: count, p50 / p99 / max (ms)", f"{summary['recovery_ms']['count']}, " + " / ".join(_fmt(summary["recovery_ms"].get(k)) for k in ("p50", "p99", "max"))),
        ("unavailable (s)", _fmt(summary["unavailable_s"])),
        ("linearizability check", f"{_fmt(lin.get('partitions'))} partitions, {_fmt(lin.get('ops'))} ops, {_fmt(lin.get('seconds'))} s"),
    ]
    if summary.get("regions"):
        rows.append(("regions", _fmt(summary["regions"].get("count"))))
    failing = lin.get("failing") or []
    fail_html = ""
    if failing:
        items = "".join(f"<li><code>{html.escape(json.dumps(f, default=str))}</code></li>" for f in failing[:20])
        fail_html = f"<h2>Violations</h2><ul>{items}</ul>"
    nodes = sorted(p for p in (run / "nodes").glob("*") if p.is_dir()) if (run / "nodes").is_dir() else []
    node_links = " ".join(
        f'<a href="nodes/{html.escape(n.name)}/{html.escape(f.name)}">{html.escape(n.name)}/{html.escape(f.name)}</a>'
        for n in nodes for f in sorted(n.iterdir()) if f.is_file())
    lin_link = (f'<p><a href="{rundir.LINEARIZABILITY}">Open the linearizability visualization</a></p>'
                f'<iframe src="{rundir.LINEARIZABILITY}" style="width:100%;height:480px;border:1px solid #ccc"></iframe>'
                if (run / rundir.LINEARIZABILITY).exists() else "<p>No linearizability visualization was written.</p>")
    nemesis_rows = "".join(
        f"<tr><td>{(e['time'] - (h.t0 or 0)) / 1e9:.2f}</td><td>{html.escape(e['f'])}</td>"
        f"<td><code>{html.escape(json.dumps(e['value'], default=str))}</code></td></tr>"
        for e in summary.get("nemesis", []))
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    cfg = html.escape(json.dumps(config, indent=2, default=str))
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>splitbrain report: {html.escape(run.name)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:24px;max-width:1200px;color:#222}}
.verdict{{display:inline-block;padding:6px 14px;border-radius:6px;color:#fff;background:{colour};font-weight:600;font-size:1.3em}}
table{{border-collapse:collapse;margin:12px 0}} th,td{{border:1px solid #ddd;padding:4px 10px;text-align:left;vertical-align:top}}
th{{background:#f6f6f6;font-weight:500}} img{{max-width:100%}} code{{font-size:0.85em}}
details{{margin:10px 0}}
</style></head><body>
<h1>splitbrain run <code>{html.escape(run.name)}</code></h1>
<p><span class="verdict">{word}</span></p>
<h2>Summary</h2><table>{table}</table>
{fail_html}
<h2>Latency over time</h2><img alt="latency over time" src="{imgs['latency_time']}">
<h2>Throughput over time</h2><img alt="throughput over time" src="{imgs['throughput_time']}">
<h2>Distributions</h2><img alt="latency, election and recovery distributions" src="{imgs['distributions']}">
<details><summary>How these numbers are defined</summary><pre style="white-space:pre-wrap">{html.escape(analysis.__doc__.split('Definitions (the report prints them):')[-1].strip())}</pre></details>
<h2>Nemesis schedule as it ran</h2>
<table><tr><th>t (s)</th><th>event</th><th>targets</th></tr>{nemesis_rows}</table>
<h2>Linearizability</h2>{lin_link}
<h2>Node logs</h2><p>{node_links or 'none collected'}</p>
<details><summary>Configuration</summary><pre>{cfg}</pre></details>
</body></html>
"""
