"""Human-readable verdicts: which key fails, the longest linearizable prefix
and the operation that cannot be placed after it."""
from __future__ import annotations

from checker.core import EMPTY, UNKNOWN, describe_op, sentence_time, describe_state, replay, time_format

TAIL = 5  # prefix ops shown before the one that cannot be placed


def op_line(model, part, i, fmt_time) -> str:
    op = part.ops[i]
    return (f"process {op.process}: {describe_op(model, part, i)}  "
            f"[called {fmt_time(op.call)}, returned {fmt_time(op.ret)}; {op.where}]")


VERDICT_WORDS = {True: "linearizable", False: "NOT linearizable", UNKNOWN: "unknown",
                 EMPTY: "no operations (an empty history proves nothing)"}


def witnesses(result) -> list:
    """The witnesses of a result's violations as JSON-able dicts (key, sentence,
    ops with call/return times, confirmed): what report.html shows."""
    from checker import witness
    from checker.core import sentence_time

    fmt = sentence_time(result)
    return [witness.as_dict(p.witness, result.model, p, fmt) for p in result.failures if p.witness is not None]


def as_json(result, name, torn=None) -> dict:
    """The `--json` record of one file."""
    out = {"file": str(name), "valid": result.valid, "seconds": round(result.seconds, 6),
           "partitions": len(result.partitions), "ops": result.ops,
           "failing": [str(p.key) for p in result.failures],
           "methods": sorted({p.method for p in result.partitions if p.method}),
           "witnesses": witnesses(result)}
    if result.note:
        out["note"] = result.note
    if torn is not None:
        out["torn_last_line"] = torn.line
    return out


def text(result, name: str, torn=None) -> str:
    body = _text(result, name)
    if torn is not None:
        body += f"\n  {torn.describe(name)}"
    return body


def _text(result, name: str) -> str:
    n, k = result.ops, len(result.partitions)
    head = f"{name}: {{}} ({n} ops, {k} partition{'s' * (k != 1)}, {result.seconds:.3f} s)"
    if result.valid is True or result.valid == EMPTY:
        return head.format(VERDICT_WORDS[result.valid])
    if not result.partitions and result.note:
        return head.format(f"unknown ({result.note})")
    model = result.model
    out = [head.format("NOT linearizable" if result.valid is False else "unknown")]
    for p in result.partitions:
        if p.valid is True:
            continue
        what = "not linearizable" if p.valid is False else f"unknown ({p.note})"
        if p.valid is False and p.witness is not None:
            w = p.witness
            fmt = sentence_time(result)
            out.append(f"  key {p.key!r}: {w.sentence}")
            out.append(f"    witness ({len(w.ops)} ops{'' if w.confirmed else ', not confirmed by the search'}):")
            for i in w.ops:
                op = p.ops[i]
                out.append(f"      process {op.process}: {describe_op(model, p, i)}  "
                           f"[called {fmt(op.call)}, returned {fmt(op.ret)}; {op.where}]")
            continue
        out.append(f"  key {p.key!r}: {what}; longest linearizable prefix {len(p.linearization)} of {len(p.ops)} ops")
        if p.valid is False:
            fmt = time_format(result, p)
            states = replay(model, p)
            start = max(0, len(p.linearization) - TAIL)
            if start:
                out.append(f"    ... {start} earlier ops")
            for j in range(start, len(p.linearization)):
                out.append(f"    {j + 1:>4}. {op_line(model, p, p.linearization[j], fmt)}  => {describe_state(model, states[j])}")
            if p.blocked is not None:
                out.append(f"    cannot place: {op_line(model, p, p.blocked, fmt)}")
    proven = sum(1 for p in result.partitions if p.valid is True)
    if result.valid == UNKNOWN:
        out.append(f"  proven linearizable: {proven} of {k} partitions")
    return "\n".join(out)
