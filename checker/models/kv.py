"""`kv`: one string value per key with get / put / append (Porcupine's kv
model); the initial value is "" and a get of an absent key reads "" (null).
`delete` puts "".

input: ("get",) | ("put", s) | ("append", s); output: (status, value read).
"""
from __future__ import annotations

import bisect
import json

from checker.model import Encoded, Model

_READ, _WRITE, _APPEND, _NOP = 0, 1, 5, 6


def text(v, what="put"):
    if v is None:
        return ""
    if type(v) is str:
        return v
    if what == "append":
        raise ValueError(f"kv append takes a string, got {v!r}")
    return json.dumps(v, sort_keys=True, separators=(",", ":"))


def prepare(op):
    f, status = op.f, op.status
    if f == "get":
        return (("get",), ("ok", text(op.result, f))) if status == "ok" else None
    if f not in ("put", "append", "delete"):
        raise ValueError(f"kv has no operation {f!r} (get, put, append, delete)")
    if status == "fail":
        return None
    if f == "delete":
        return ("put", ""), (status, None)
    return (f, text(op.value, f)), (status, None)


def step(state, inp, out):
    f = inp[0]
    if f == "get":
        return state == out[1], state
    if f == "put":
        return True, inp[1]
    return True, state + inp[1]


def describe(inp, out):
    if inp[0] == "get":
        return f"get() -> {out[1]!r}"
    return f"{inp[0]}({inp[1]!r})"


def encode(inputs, outputs, init="") -> Encoded:
    """Only states that some get can still observe matter: a value that is not
    a prefix of any value read can never be read again until a put, whatever
    is appended, so all such values are one "dead" state. The live states are
    prefixes of the values read; an append maps live state s to the id of
    s + v when that is live, found by looking for v inside the values read."""
    reads = sorted({out[1] for inp, out in zip(inputs, outputs) if inp[0] == "get"})
    # Values read that are not a prefix of another (sorted order puts a
    # value's extensions right after it).
    maximal = [r for i, r in enumerate(reads) if i + 1 == len(reads) or not reads[i + 1].startswith(r)]
    ids = {init: 0}
    DEAD = -1

    def live(s):
        # s is live iff some maximal value starts with it: in sorted order the
        # first maximal value >= s does, if any does.
        if s in ids:
            return ids[s]
        k = bisect.bisect_left(maximal, s)
        if k < len(maximal) and maximal[k].startswith(s):
            ids[s] = len(ids)
            return ids[s]
        return DEAD

    kind, a, b = [], [], []
    appends: dict[str, int] = {}
    for inp, out in zip(inputs, outputs):
        f = inp[0]
        if f == "get":
            kind.append(_READ)
            a.append(live(out[1]))
        elif f == "put":
            kind.append(_WRITE)
            a.append(live(inp[1]))
        elif inp[1]:
            kind.append(_APPEND)
            a.append(appends.setdefault(inp[1], len(appends)))
        else:
            kind.append(_NOP)
            a.append(0)
        b.append(0)
    # Where each appended value occurs inside the maximal values: one search
    # through all of them joined, mapped back by their start offsets.
    joined = "\x00".join(maximal)
    starts, pos = [], 0
    for g in maximal:
        starts.append(pos)
        pos += len(g) + 1
    tr_off, tr_from, tr_to = [0], [], []
    for v in appends:  # insertion order = value id order
        pairs = {}
        i = joined.find(v)
        while i >= 0:
            k = bisect.bisect_right(starts, i) - 1
            g, at = maximal[k], i - starts[k]
            if at + len(v) <= len(g):  # not across the separator
                pairs[live(g[:at])] = live(g[: at + len(v)])
            i = joined.find(v, i + 1)
        for frm in sorted(pairs):
            tr_from.append(frm)
            tr_to.append(pairs[frm])
        tr_off.append(len(tr_from))
    return Encoded(kind, a, b, init=0, tr_off=tr_off, tr_from=tr_from, tr_to=tr_to, dead=DEAD)


KV = Model(
    name="kv",
    init=str,
    step=step,
    prepare=prepare,
    describe=describe,
    describe_state=repr,
    operations=frozenset({"get", "put", "append", "delete"}),
    encode=encode,
)
