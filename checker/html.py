"""linearizability.html: a self-contained, offline page that scales.

Failing partitions come first, each with its witness (the sentence and the
operations, as a table) and a timeline drawn at once around the witness;
partitions that are still unknown follow; linearizable partitions are listed
with their counts and drawn on demand. Every timeline is drawn by a small
script from compact data embedded in the page (per operation: process index,
call as a delta from the previous call, duration, a short label code), on a
canvas the size of its viewport, redrawn as it scrolls, with the process
names and the time axis at its edges. The page is a Jinja2 template with
autoescaping (checker/templates/).
"""
from __future__ import annotations

import functools
import math
from collections import Counter

from checker import models
from checker.core import EMPTY, UNKNOWN, describe_op

LABEL_MAX = 48  # characters of an op's label kept in the data (the tooltip); witnesses show theirs in full


@functools.lru_cache(maxsize=1)
def environment():
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("checker", "templates"),
                              autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
                              trim_blocks=True, lstrip_blocks=True)


def _verdict(v) -> tuple[str, str]:
    return {True: ("linearizable", "ok"), False: ("NOT linearizable", "bad"),
            EMPTY: ("no operations", "unk")}.get(v, ("unknown", "unk"))


def _key(k) -> str:
    return "(no key)" if k is None else str(k)


# Op kinds in the data (the page's script expands them): kind + 8 * process index.
K_READ, K_WRITE, K_CAS_OK, K_CAS_FAIL, K_CAS_INFO, K_OTHER = 0, 1, 2, 3, 4, 5


def _short(v):
    """A value as the data carries it: ints as numbers, the rest as short strings."""
    from checker.models.values import show

    if type(v) is int and abs(v) < 2**53:
        return v
    text = show(v)
    return text if len(text) <= LABEL_MAX else text[:LABEL_MAX - 1] + "…"


def _op(model, part, i, builtin):
    """(kind, label) of op i: the label a number or short string where the kind says what it is."""
    inp, out = part.inputs[i], part.outputs[i]
    if builtin == "cas-register":
        f = inp[0]
        if f == "read":
            return K_READ, _short(out[1])
        if f == "write":
            return K_WRITE, _short(inp[1])
        kind = {"ok": K_CAS_OK, "fail": K_CAS_FAIL}.get(out[0], K_CAS_INFO)
        return kind, f"{_short(inp[1])},{_short(inp[2])}"
    text = describe_op(model, part, i)
    return K_OTHER, text if len(text) <= LABEL_MAX else text[:LABEL_MAX - 1] + "…"


def _data(result, part, witness_ops, procs, pidx):
    """The compact timeline data of one partition."""
    b = models.base(result.model)
    builtin = b.name if b is not None else None
    ops = part.ops
    order = sorted(range(len(ops)), key=lambda i: (ops[i].call, i))
    for i in order:
        p = ops[i].process
        if p not in pidx:
            pidx[p] = len(procs)
            procs.append(p if isinstance(p, (int, str)) else str(p))
    # Times in a quantum q of the clock: for nanosecond clocks a power of ten of
    # microseconds keeping about two digits of the median duration.
    if result.time_unit == "ns":
        durs = sorted(op.ret - op.call for op in ops if op.ret != math.inf)
        med_us = durs[len(durs) // 2] / 1000 if durs else 1
        q = 1000 * 10 ** max(0, math.floor(math.log10(max(med_us, 1) / 20)))
    else:
        q = 1
    origin = result.origin if result.time_unit == "ns" else 0
    first = ops[order[0]].call if order else 0
    flat, prev, pos = [], 0, {}
    for k, i in enumerate(order):
        op = ops[i]
        call = round((op.call - first) / q)
        kind, label = _op(result.model, part, i, builtin)
        flat += [kind + 8 * pidx[op.process], call - prev,
                 -1 if op.ret == math.inf else max(0, round((op.ret - op.call) / q)), label]
        prev = call
        pos[i] = k
    return {"key": _key(part.key), "q": q, "t0": (first - origin) // q, "flat": flat,
            "witness": [pos[i] for i in witness_ops if i in pos]}


def render(result) -> str:
    from checker import report

    title = result.source or "history"
    word, cls = _verdict(result.valid)
    parts = result.partitions
    procs, pidx = [], {}
    data = {"parts": [], "procs": procs, "unit": result.time_unit}
    index = {}

    def add(p, witness_ops=()):
        index[id(p)] = len(data["parts"])
        data["parts"].append(_data(result, p, witness_ops, procs, pidx))
        return index[id(p)]

    witnesses = []
    wdicts = {id(p): d for p, d in zip([p for p in result.failures if p.witness is not None],
                                        report.witnesses(result))}
    for p in result.failures:
        d = wdicts.get(id(p))
        ops = p.witness.ops if p.witness is not None else ([p.blocked] if p.blocked is not None else [])
        k = add(p, ops)
        if d is None:
            d = {"key": _key(p.key), "sentence": "not linearizable (no witness was found in the time allowed)",
                 "ops": [], "confirmed": None}
        witnesses.append(dict(d, part=k))
    unresolved = []
    for p in parts:
        if p.valid == UNKNOWN:
            w, c = _verdict(p.valid)
            unresolved.append({"key": _key(p.key), "word": w, "cls": c, "n": len(p.ops), "note": p.note,
                               "index": add(p)})
    valid = []
    for p in parts:
        if p.valid is True:
            valid.append({"key": _key(p.key), "n": len(p.ops), "procs": len({op.process for op in p.ops}),
                          "method": p.method or "search", "seconds": p.seconds, "index": add(p)})
    methods = Counter(p.method or "search" for p in parts)
    return environment().get_template("linearizability.html.j2").render(
        title=title, verdict_word=word, verdict_class=cls, model=result.model.name, ops=result.ops,
        partitions=parts, seconds=result.seconds, note=result.note,
        methods=", ".join(f"{m} ({n})" for m, n in sorted(methods.items())),
        witnesses=witnesses, unresolved=unresolved, valid=valid, valid_count=len(valid),
        valid_ops=sum(v["n"] for v in valid), data=_json(data))


def _json(data):
    """Compact JSON safe inside a <script> element (as Jinja2's tojson, without its spaces)."""
    import json

    import markupsafe

    text = json.dumps(data, separators=(",", ":"), default=str)
    for c, e in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"), ("'", "\\u0027")):
        text = text.replace(c, e)
    return markupsafe.Markup(text)


def write_html(result, path) -> None:
    text = render(result)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
