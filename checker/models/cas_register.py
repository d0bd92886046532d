"""`cas-register`: one register per key with read / write / cas / delete.
The initial value is absent (JSON null); `delete` makes it absent again.

input: ("read",) | ("write", v) | ("cas", expected, new); output: (status, value).
A cas that completed `fail` (no error) is a comparison that did not match; an
`info` cas may or may not have happened. Reads that did not return `ok`, and
writes/deletes that definitely failed, constrain nothing and are dropped.
"""
from __future__ import annotations

from checker.model import Encoded, Model
from checker.models.values import canon, show

ABSENT = None
_READ, _WRITE, _CAS_OK, _CAS_FAIL, _CAS_ANY = 0, 1, 2, 3, 4


def _init():
    return ABSENT


def prepare(op):
    f, status = op.f, op.status
    if f == "read":
        return (("read",), ("ok", canon(op.result))) if status == "ok" else None
    if status == "fail" and f != "cas":
        return None
    if f == "write":
        return ("write", canon(op.value)), (status, None)
    if f == "delete":
        return ("write", ABSENT), (status, None)
    if f == "cas":
        v = op.value
        if type(v) not in (list, tuple) or len(v) != 2:
            raise ValueError(f"cas value must be [expected, new], got {v!r}")
        return ("cas", canon(v[0]), canon(v[1])), (status, None)
    raise ValueError(f"cas-register has no operation {f!r} (read, write, cas, delete)")


def step(state, inp, out):
    f = inp[0]
    if f == "read":
        return state == out[1], state
    if f == "write":
        return True, inp[1]
    status = out[0]
    if status == "ok":
        return state == inp[1], inp[2]
    if status == "fail":
        return state != inp[1], state
    return True, inp[2] if state == inp[1] else state


def describe(inp, out):
    f = inp[0]
    if f == "read":
        return f"read() -> {show(out[1])}"
    if f == "write":
        return "delete()" if inp[1] is ABSENT else f"write({show(inp[1])})"
    verdict = {"ok": "ok", "fail": "fail"}.get(out[0], "unknown")
    return f"cas({show(inp[1])}, {show(inp[2])}) -> {verdict}"


def describe_state(state):
    return "absent" if state is ABSENT else show(state)


def encode(inputs, outputs, init=ABSENT) -> Encoded:
    """Values as integers. Only values some read returns or some cas expects
    can be told apart later; every other value (a write nobody read) is one
    and the same "unobserved" state, which lets the search's cache merge the
    paths that differ only in which unread write came last."""
    observed = {init: 0}
    for inp, out in zip(inputs, outputs):
        f = inp[0]
        if f == "read":
            observed.setdefault(out[1], len(observed))
        elif f == "cas":
            observed.setdefault(inp[1], len(observed))
    unseen = len(observed)
    get = observed.get
    kind, a, b = [], [], []
    for inp, out in zip(inputs, outputs):
        f = inp[0]
        if f == "read":
            kind.append(_READ)
            a.append(observed[out[1]])
            b.append(0)
        elif f == "write":
            kind.append(_WRITE)
            a.append(get(inp[1], unseen))
            b.append(0)
        else:
            st = out[0]
            kind.append(_CAS_OK if st == "ok" else _CAS_FAIL if st == "fail" else _CAS_ANY)
            a.append(observed[inp[1]])
            b.append(get(inp[2], unseen))
    return Encoded(kind, a, b, init=0)


CAS_REGISTER = Model(
    name="cas-register",
    init=_init,
    step=step,
    prepare=prepare,
    describe=describe,
    describe_state=describe_state,
    operations=frozenset({"read", "write", "cas", "delete"}),
    encode=encode,
)
