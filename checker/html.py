"""A self-contained, offline HTML view of a check: per partition a timeline
(one lane per process, x = order of call/return events, so bursts stay
readable), the ops of the longest linearizable prefix numbered in their
linearization order, the op that cannot be placed in red, and the prefix as a
table with the state after each op. No scripts or external resources."""
from __future__ import annotations

import html
import math

from checker.core import UNKNOWN, describe_op, describe_state, replay, time_format

MAX_OPS = 400  # per timeline; bigger partitions show the window around the failure
LANE, PAD, COL = 26, 120, 22

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:24px 0 6px}
.ok{color:#1a7f37}.bad{color:#c62828}.unk{color:#b26a00}
.part{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 14px;margin:12px 0}
.scroll{overflow-x:auto;border:1px solid #eee;background:#fff}
table{border-collapse:collapse;margin-top:8px;font-size:13px}
td,th{border-bottom:1px solid #eee;padding:2px 10px;text-align:left;font-family:ui-monospace,monospace}
tr.blocked td{background:#fde2e2;font-weight:600}
.legend span{display:inline-block;margin-right:14px}
.sw{display:inline-block;width:12px;height:12px;border-radius:2px;vertical-align:middle;margin-right:4px}
a.jump{display:inline-block;margin:8px 0;padding:4px 10px;background:#c62828;color:#fff;border-radius:4px;text-decoration:none}
summary{cursor:pointer}
"""


def _esc(s) -> str:
    return html.escape(str(s), quote=True)


def _verdict(v) -> tuple[str, str]:
    return {True: ("linearizable", "ok"), False: ("NOT linearizable", "bad")}.get(v, ("unknown", "unk"))


def _window(part) -> list[int]:
    n = len(part.ops)
    if n <= MAX_OPS:
        return list(range(n))
    # Around the failure: the end of the prefix and the blocked op, by call time.
    focus = part.linearization[-MAX_OPS // 4:] + ([part.blocked] if part.blocked is not None else [])
    if not focus:
        return list(range(MAX_OPS))
    lo = min(part.ops[i].call for i in focus)
    by_dist = sorted(range(n), key=lambda i: abs(part.ops[i].call - lo))
    return sorted(by_dist[:MAX_OPS])


def _timeline(model, part, shown, order, fmt_time) -> str:
    ops = [part.ops[i] for i in shown]
    finite = sorted({t for op in ops for t in (op.call, op.ret) if t != math.inf})
    rank = {t: k for k, t in enumerate(finite)}
    end = len(finite) + 1
    procs = sorted({op.process for op in ops}, key=lambda p: (str(type(p)), p))
    lane = {p: k for k, p in enumerate(procs)}
    width, height = PAD + (end + 1) * COL, (len(procs) + 1) * LANE
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="11">']
    for p, k in lane.items():
        y = k * LANE + LANE
        out.append(f'<text x="4" y="{y - 8}" fill="#555">process {_esc(p)}</text>'
                   f'<line x1="{PAD}" x2="{width}" y1="{y - 4}" y2="{y - 4}" stroke="#eee"/>')
    for i, op in zip(shown, ops):
        x1 = PAD + rank[op.call] * COL + 2
        x2 = PAD + (rank[op.ret] if op.ret != math.inf else end) * COL + COL - 2
        y = lane[op.process] * LANE + 6
        if i == part.blocked:
            fill, stroke = "#ef9a9a", "#c62828"
        elif i in order:
            fill, stroke = "#a5d6a7", "#2e7d32"
        else:
            fill, stroke = "#e0e0e0", "#9e9e9e"
        dash = ' stroke-dasharray="4 3"' if op.ret == math.inf else ""
        label = describe_op(model, part, i)
        tip = f"{label}\nprocess {op.process}, called {fmt_time(op.call)}, returned {fmt_time(op.ret)}\n{op.where}"
        if i in order:
            tip = f"#{order[i] + 1} in the linearization\n" + tip
        anchor = ' id="first-error"' if i == part.blocked and part.valid is False else ""
        out.append(f'<g{anchor}><title>{_esc(tip)}</title>'
                   f'<rect x="{x1}" y="{y}" width="{max(x2 - x1, 6)}" height="{LANE - 10}" rx="3" '
                   f'fill="{fill}" stroke="{stroke}"{dash}/>'
                   f'<text x="{x1 + 3}" y="{y + LANE - 15}" fill="#111">'
                   f'{_esc((f"{order[i] + 1}. " if i in order else "") + label)[:60]}</text></g>')
    out.append("</svg>")
    return "".join(out)


def _table(model, part, fmt_time) -> str:
    states = replay(model, part)
    rows = ["<table><tr><th>#</th><th>process</th><th>operation</th><th>called</th><th>returned</th><th>state after</th></tr>"]
    for j, i in enumerate(part.linearization):
        op = part.ops[i]
        rows.append(f"<tr><td>{j + 1}</td><td>{_esc(op.process)}</td><td>{_esc(describe_op(model, part, i))}</td>"
                    f"<td>{fmt_time(op.call)}</td><td>{_esc(fmt_time(op.ret))}</td>"
                    f"<td>{_esc(describe_state(model, states[j]))}</td></tr>")
    if part.blocked is not None and part.valid is False:
        op = part.ops[part.blocked]
        rows.append(f'<tr class="blocked"><td>✗</td><td>{_esc(op.process)}</td>'
                    f"<td>{_esc(describe_op(model, part, part.blocked))}</td><td>{fmt_time(op.call)}</td>"
                    f"<td>{_esc(fmt_time(op.ret))}</td><td>cannot be placed here ({_esc(op.where)})</td></tr>")
    rows.append("</table>")
    return "".join(rows)


def write_html(result, path) -> None:
    model = result.model
    word, cls = _verdict(result.valid)
    title = result.source or "history"
    parts = sorted(result.partitions, key=lambda p: {False: 0, UNKNOWN: 1, True: 2}[p.valid])
    body = [f"<h1>Linearizability: {_esc(title)}</h1>",
            f'<div>verdict <b class="{cls}">{word}</b> · model {_esc(model.name)} · {result.ops} ops · '
            f"{len(result.partitions)} partition{'s' * (len(result.partitions) != 1)} · {result.seconds:.3f} s</div>"]
    if result.valid is False:
        body.append('<a class="jump" href="#first-error">jump to first error</a>')
    body.append('<div class="legend"><span><i class="sw" style="background:#a5d6a7"></i>in the longest linearizable '
                'prefix (numbered in order)</span><span><i class="sw" style="background:#ef9a9a"></i>cannot be placed'
                '</span><span><i class="sw" style="background:#e0e0e0"></i>not linearized</span>'
                '<span>dashed: never returned (may take effect any time after its call, or never)</span></div>')
    for p in parts:
        w, c = _verdict(p.valid)
        order = {i: j for j, i in enumerate(p.linearization)}
        fmt = time_format(result, p)
        shown = _window(p)
        more = f" (showing {len(shown)} ops around the failure)" if len(shown) < len(p.ops) else ""
        inner = (f'<div class="scroll">{_timeline(model, p, shown, order, fmt)}</div>'
                 f"<h2>Partial linearization ({len(p.linearization)} of {len(p.ops)} ops)</h2>{_table(model, p, fmt)}")
        head = (f'<b>{"key " + _esc(repr(p.key)) if p.key is not None else "(single register, no key)"}</b>: <span class="{c}">{w}</span> · {len(p.ops)} ops · '
                f"{p.seconds:.3f} s{more}{' · ' + _esc(p.note) if p.note else ''}")
        is_open = " open" if p.valid is not True else ""
        body.append(f'<details class="part"{is_open}><summary>{head}</summary>{inner}</details>')
    doc = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_esc(title)} — linearizability'
           f"</title><style>{_CSS}</style></head><body>{''.join(body)}</body></html>")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(doc)
