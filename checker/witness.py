"""A witness for a violating partition: a few operations that are still not
linearizable, with every kept operation's call and return times, and one
sentence naming the reason.

Shrinking is delta debugging (Zeller's ddmin) with the checker as the oracle.
Dropping an observer (a read, a failed cas) can only make a history easier, but
dropping a write can make it harder (a read of its value has no source any
more), so a candidate set S is judged together with every write outside S
weakened to "indeterminate" (it may take effect at any time after its call, or
never): if even that is not linearizable, no history containing S is, the
full one included. Writes outside S that cannot matter are left out of the
judgement: those called after S's last return (they come after everything in
S), and, when S has no failed cas, those whose value S never names (an unread
zone nobody compares against changes nothing). With failed cas in S, the
earliest-called unnamed writes, one per failed cas, stand in for all of them
(they are interchangeable but for their call). A cas outside S is judged as a
write of its new value, which is weaker still (it may happen in any state).

The shrunk set is confirmed by the Wing & Gong search, independent of the
procedure that found the violation.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

from checker import models, native, search as pysearch, unique
from checker.history import INF
from checker.model import describe_op
from checker.models.values import show

WINDOW_START = 24  # ops around the failure tried first; doubled until it fails alone
MAX_WINDOW = 4096
CONFIRM_SECONDS = 1.0


@dataclass
class Witness:
    key: object
    ops: list  # indices into the partition's ops, in call order
    sentence: str
    confirmed: bool | None  # the search agrees the set is not linearizable (None: not asked / undecided)
    seconds: float = 0.0
    background: list = field(default_factory=list)  # writes outside the set the judgement allowed, weakened
    kind: str | None = None  # the anomaly the sentence names (KINDS), None when no one shape fits


# -------------------------------------------------------------- judging a set


_WRITES = frozenset({"write", "put", "append", "cas"})


def writer_index(part):
    """(writers in call order, {value: [writer]}) of a partition, built once."""
    cached = part.__dict__.get("_writer_index")
    if cached is None:
        ins, outs = part.inputs, part.outputs
        writers, writer_of = [], {}
        for i in range(len(ins)):
            inp = ins[i]
            f = inp[0]
            if f in _WRITES and outs[i][0] != "fail":
                writers.append(i)
                v = inp[2] if f == "cas" else inp[1]
                try:
                    writer_of[v].append(i)
                except KeyError:
                    writer_of[v] = [i]
        cached = part.__dict__["_writer_index"] = (writers, writer_of)
    return cached


def _weak(op):
    return dataclasses.replace(op, status="info", ret=INF, result=None)


def _writes(model, inputs, i) -> bool:
    f = inputs[i][0]
    return f in ("write", "put", "append") or (f == "cas")


def _names(model, inputs, outputs, i):
    """The values op i names (reads it returned, cas expects)."""
    f = inputs[i][0]
    if f in ("read", "get"):
        return (outputs[i][1],)
    if f == "cas":
        return (inputs[i][1],)
    return ()


def _value(inputs, i):
    f = inputs[i][0]
    return inputs[i][2] if f == "cas" else inputs[i][1] if len(inputs[i]) > 1 else None


class Judge:
    """Is a subset of one partition's ops, with the rest of its writes weakened,
    not linearizable? Decided by the unique-value procedure when it applies,
    else by the search."""

    def __init__(self, model, part, deadline):
        self.model, self.part, self.deadline = model, part, deadline
        self.base = models.base(model)
        self.n = len(part.ops)
        self.writers, self.writer_of = writer_index(part)
        self.calls = 0

    def background(self, S):
        part, inputs, outputs = self.part, self.part.inputs, self.part.outputs
        inside = set(S)
        horizon = max((part.ops[i].ret for i in S if part.ops[i].ret != INF), default=INF)
        if self.base is not None and self.base.name == "kv":
            # Appends whose token a read of S shows; any other can only come after
            # all of S's reads (or never), where it changes nothing S sees.
            if any(inputs[i][0] not in ("get", "append") for i in range(self.n)):
                return [i for i in self.writers if i not in inside and part.ops[i].call <= horizon]
            seen = [outputs[i][1] for i in S if inputs[i][0] == "get" and outputs[i][1]]
            return [i for i in self.writers if i not in inside and part.ops[i].call <= horizon
                    and inputs[i][0] == "append" and any(inputs[i][1] in r for r in seen)]
        failed = sum(1 for i in S if inputs[i][0] == "cas" and outputs[i][0] == "fail")
        # Outside S a cas is judged as a write of its new value (weaker: it may
        # happen in any state), so no chain of expected values needs following.
        named = {v for i in S for v in _names(self.model, inputs, outputs, i)}
        keep = [w for v in named for w in self.writer_of.get(v, ())
                if w not in inside and part.ops[w].call <= horizon]
        if failed:
            spare = []
            for w in self.writers:  # in call order: the earliest-called come first
                if part.ops[w].call > horizon or len(spare) == failed:
                    break
                if w not in inside and _value(inputs, w) not in named:
                    spare.append(w)
            keep += spare
        return sorted(set(keep))

    def history(self, S):
        part = self.part
        bg = self.background(S)
        idx = sorted(set(S) | set(bg))
        weak = set(bg)
        ops = [_weak(part.ops[i]) if i in weak else part.ops[i] for i in idx]
        ins = [("write", _value(part.inputs, i)) if i in weak and part.inputs[i][0] == "cas" else part.inputs[i]
               for i in idx]
        outs = [("info", None) if i in weak else part.outputs[i] for i in idx]
        return ops, ins, outs, bg

    def violates(self, S, search=False, time_limit=None):
        """True: not linearizable; False: linearizable; None: undecided."""
        self.calls += 1
        ops, ins, outs, _ = self.history(S)
        if not search and self.base is not None:
            dec = (unique.register if self.base.name == "cas-register" else unique.append)
            out = dec(ops, ins, outs, self.model.init()) if self.base.name == "cas-register" else \
                dec(ops, ins, outs, self.model.init())
            if out is not None:
                return not out.valid
        # Weakened writes make the search slow; a set it cannot judge quickly is not kept.
        return _search(self.model, ops, ins, outs, time_limit or 0.25)


def _entries(ops):
    ev = [(op.call, 0, i) for i, op in enumerate(ops)] + [(op.ret, 1, i) for i, op in enumerate(ops)]
    ev.sort()
    return [i if k == 0 else ~i for _, k, i in ev]


def _search(model, ops, ins, outs, time_limit):
    try:
        if model.encode is not None and native.available():
            code = native.search(model.encode(ins, outs), _entries(ops), time_limit, 256 * 2**20)[0]
        else:
            code = pysearch.search(model, ins, outs, _entries(ops), time_limit, 256 * 2**20)[0]
    except (MemoryError, RuntimeError):
        return None
    return True if code == 0 else False if code == 1 else None


# -------------------------------------------------------------- shrinking


def _around(part, seed_ops, k):
    """About k ops around the seed ops: those called within the seeds' span
    widened until k ops are in, plus every op still running there (ops are in
    call order)."""
    import bisect

    ops = part.ops
    calls = part.__dict__.setdefault("_calls", [op.call for op in ops])
    lo = min(ops[i].call for i in seed_ops)
    hi = max((ops[i].ret for i in seed_ops if ops[i].ret != INF), default=lo)
    a, b = bisect.bisect_left(calls, lo), bisect.bisect_right(calls, hi)
    pad = max(0, (k - (b - a)) // 2)
    a, b = max(0, a - pad), min(len(ops), b + pad)
    start = calls[a] if a < len(ops) else lo
    running = [i for i in range(max(0, a - 4 * k), a) if ops[i].ret >= start]
    return sorted(set(range(a, b)) | set(running) | set(seed_ops))


def _ddmin(items, test, deadline):
    """Zeller's ddmin: a 1-minimal sublist for which test holds (test(items) holds)."""
    n = 2
    while len(items) >= 2:
        if time.monotonic() > deadline:
            break
        chunk = math.ceil(len(items) / n)
        parts = [items[i:i + chunk] for i in range(0, len(items), chunk)]
        reduced = False
        for k in range(len(parts)):
            rest = [x for j, p in enumerate(parts) if j != k for x in p]
            if rest and test(rest):
                items, n, reduced = rest, max(n - 1, 2), True
                break
        if not reduced:
            if n >= len(items):
                break
            n = min(len(items), n * 2)
    return items


def shrink(model, part, fmt, time_budget=10.0) -> Witness | None:
    """The witness of a violating partition (part.valid is False), or None."""
    t0 = time.monotonic()
    deadline = t0 + time_budget
    judge = Judge(model, part, deadline)
    n = len(part.ops)
    if n == 0:
        return None
    seeds = [i for i in (part.blocked, part.conflict) if i is not None] or list(part.linearization[-3:]) or [0]
    S = None
    k = WINDOW_START
    while True:
        cand = _around(part, seeds, k)
        if judge.violates(cand):
            S = cand
            break
        if len(cand) >= n or k >= MAX_WINDOW or time.monotonic() > deadline:
            break
        k *= 2
    if S is None:
        if n > MAX_WINDOW * 2:
            return None
        S = list(range(n))
        if not judge.violates(S):
            return None
    S = _ddmin(S, lambda sub: judge.violates(sub) is True, deadline)
    ops, ins, outs, bg = judge.history(S)
    confirmed = _search(model, ops, ins, outs, CONFIRM_SECONDS)
    confirmed = None if confirmed is None else bool(confirmed)
    text, extra, kind = explain(model, part, S, fmt)
    if extra:
        # The writes the sentence names may make other ops of the set unnecessary.
        fixed = set(extra)
        rest = [i for i in S if i not in fixed]
        rest = _ddmin(rest, lambda sub: judge.violates(sorted(set(sub) | fixed)) is True, deadline + 2.0) \
            if rest and judge.violates(sorted(fixed)) is not True else rest
        if not rest or judge.violates(sorted(fixed | set(rest))):
            S = rest
            text, _, kind = explain(model, part, sorted(fixed | set(S)), fmt)
    S = sorted(set(S) | set(extra), key=lambda i: (part.ops[i].call, i))
    return Witness(part.key, S, text, confirmed, time.monotonic() - t0, bg, kind)


# -------------------------------------------------------------- the sentence

# The anomalies a sentence can name (Witness.kind), as a reader would call them.
KINDS = {
    "stale-read": "stale read", "phantom-read": "read of a value nobody wrote",
    "future-read": "read of a value before its write", "value-came-back": "a replaced value came back",
    "double-cas": "double-successful cas", "duplicate-append": "duplicate append", "lost-append": "lost append",
    "append-undone": "append undone", "appends-reordered": "appends reordered",
}


def explain(model, part, S, fmt):
    """(sentence, ops it names that S lacks, kind): why the ops S cannot be linearized,
    in one sentence, using the partition's completed writes where they make the
    reason plain (adding them keeps the set non-linearizable: they only constrain);
    `kind` names the anomaly (KINDS) or is None when no one shape fits."""
    ops, ins, outs = part.ops, part.inputs, part.outputs
    d = lambda i: describe_op(model, part, i)
    base = models.base(model)
    init = model.init()
    reads = sorted((i for i in S if ins[i][0] in ("read", "get")), key=lambda i: ops[i].call)
    all_writers, writers = writer_index(part)
    import bisect

    calls = part.__dict__.setdefault("_calls", [op.call for op in ops])

    def near(r, k=2000):
        """The writers called in the k writes before r was called (in call order)."""
        end = bisect.bisect_left(all_writers, bisect.bisect_left(calls, ops[r].call))
        return all_writers[max(0, end - k):end]
    if base is not None and base.name == "cas-register":
        for r in reads:
            v = outs[r][1]
            if v != init and v not in writers:
                return f"{d(r)} at {fmt(ops[r].call)} returned a value no operation wrote", [], "phantom-read"
            src = writers.get(v, [])
            if src and all(ops[w].call > ops[r].ret for w in src):
                w = src[0]
                return (f"{d(r)} returned at {fmt(ops[r].ret)}, before {d(w)}, the only write of that value, "
                        f"was called at {fmt(ops[w].call)}"), [w], "future-read"
        # A stale read: a write completed before the read was called, and the value
        # read was certainly older than that write.
        best = None
        for r in reads:
            v = outs[r][1]
            src = [x for x in writers.get(v, []) if outs[x][0] == "ok"]
            for vals in [near(r)]:
                for w in vals:
                    if outs[w][0] != "ok" or ops[w].ret >= ops[r].call or _value(ins, w) == v:
                        continue
                    older = [x for x in src if ops[x].ret < ops[w].call]
                    if v == init or older or (ins[w][0] == "cas" and ins[w][1] == v):
                        if best is None or ops[w].ret > ops[best[1]].ret:
                            best = (r, w, older[:1])
        if best is not None:
            r, w, extra = best
            what = "the initial value" if outs[r][1] == init else "a value"
            return (f"{d(r)} at {fmt(ops[r].call)} returned {what} that {d(w)} had overwritten; "
                    f"that write completed at {fmt(ops[w].ret)}, before the read was called"), [w] + extra, "stale-read"
        # A value that comes back: another value read after X was the register's
        # value (a read of X returned, or X's write completed) and before a read of X.
        seen_x = lambda i: outs[i][1] if ins[i][0] == "read" else _value(ins, i)
        firsts = reads + [i for i in S if _writes(model, ins, i) and outs[i][0] == "ok" and ins[i][0] == "write"]
        for a in firsts:
            for b in reads:
                for c in reads:
                    x = seen_x(a)
                    if (ops[a].ret < ops[b].call and ops[b].ret < ops[c].call and outs[c][1] == x
                            and outs[b][1] != x):
                        how = "was read" if a in reads else "was written"
                        return (f"{d(b)} at {fmt(ops[b].call)} returned another value than {show(x)}, which "
                                f"{how} by {fmt(ops[a].ret)} and read again at {fmt(ops[c].call)}; a value that "
                                f"was replaced never comes back"), [], "value-came-back"
        cas_ok = [i for i in S if ins[i][0] == "cas" and outs[i][0] == "ok"]
        for a in cas_ok:
            for b in cas_ok:
                if a < b and ins[a][1] == ins[b][1]:
                    return (f"{d(a)} at {fmt(ops[a].call)} and {d(b)} at {fmt(ops[b].call)} both succeeded, "
                            f"but only one operation can replace a value once"), [], "double-cas"
    if base is not None and base.name == "kv" and all(ins[i][0] in ("get", "append") for i in range(len(ops))):
        parsed = {r: _tokens(outs[r][1], [v for v in writers if v]) for r in reads}
        for r in reads:
            toks = parsed[r] or []
            for tok in toks:
                if toks.count(tok) > 1 and writers.get(tok):
                    w = writers[tok][0]
                    return (f"{d(r)} at {fmt(ops[r].call)} contains {d(w)} twice, though it was applied once", [w],
                            "duplicate-append")
        for r in reads:
            toks = parsed[r]
            for vals in [near(r)]:
                for w in vals:
                    tok = ins[w][1]
                    if tok and outs[w][0] == "ok" and ops[w].ret < ops[r].call and toks is not None \
                            and tok not in toks:
                        return (f"{d(r)} at {fmt(ops[r].call)} lacks {d(w)}, which completed at "
                                f"{fmt(ops[w].ret)}, before the read was called"), [w], "lost-append"
        # A read that does not extend a read that returned before it was called.
        for a in reads:
            for b in reads:
                if ops[a].ret < ops[b].call and not outs[b][1].startswith(outs[a][1]):
                    return (f"{d(b)} at {fmt(ops[b].call)} does not extend {d(a)}, which had returned at "
                            f"{fmt(ops[a].ret)}; appends are never undone"), [], "append-undone"
        # A read that shows a later append but not an earlier one.
        for r in reads:
            toks = parsed[r] or []
            for vals in [near(r)]:
                for w in vals:
                    tok = ins[w][1]
                    if not tok or outs[w][0] != "ok" or tok in toks:
                        continue
                    for u in toks:
                        x = writers.get(u, [None])[0]
                        if x is not None and ops[x].call > ops[w].ret:
                            return (f"{d(r)} at {fmt(ops[r].call)} shows {d(x)}, called at {fmt(ops[x].call)}, "
                                    f"but lacks {d(w)}, which had completed at {fmt(ops[w].ret)}"), [w, x], \
                                "appends-reordered"
    span = f"between {fmt(min(ops[i].call for i in S))} and {fmt(max(ops[i].ret for i in S))}"
    listing = "; ".join(d(i) for i in S[:4]) + ("; ..." if len(S) > 4 else "")
    return (f"no order of these {len(S)} operations {span} fits both their times and a single "
            f"{model.name}: {listing}"), [], None


def _tokens(s, toks):
    """s split into appended tokens (a prefix-free set), or None if it does not split."""
    by_first = {}
    for t in toks:
        by_first.setdefault(t[0], []).append(t)
    out, at = [], 0
    while at < len(s):
        for t in by_first.get(s[at], ()):
            if s.startswith(t, at):
                out.append(t)
                at += len(t)
                break
        else:
            return None
    return out


def sentence(model, part, S, fmt) -> str:
    return explain(model, part, S, fmt)[0]


def as_dict(w: Witness, model, part, fmt) -> dict:
    """A JSON-able witness, for --json and report.html."""
    ops = []
    for i in w.ops:
        op = part.ops[i]
        ops.append({"process": op.process, "op": describe_op(model, part, i), "status": op.status,
                    "call": fmt(op.call), "return": fmt(op.ret), "where": op.where,
                    "call_time": op.call, "return_time": None if op.ret == INF else op.ret})
    return {"key": w.key if isinstance(w.key, (str, int, float, type(None))) else repr(w.key),
            "sentence": w.sentence, "kind": w.kind, "ops": ops, "confirmed": w.confirmed}
