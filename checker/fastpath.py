"""The hot path of `check` for a built-in model on a history from one of our
importers (well-formed, in time order): one pass pairs the events, drops the
ops that constrain nothing, splits by key and encodes for the compiled
search, without an `Operation` or model input per op. The ops, inputs and
outputs of a partition are built only if someone looks (a report of a
failure, the HTML), by the general path, so they are the same objects in the
same order as `check` without this shortcut would give."""
from __future__ import annotations

from collections.abc import Sequence

from checker.history import INF, Operation
from checker.model import Encoded
from checker.models import cas_register
from checker.models.values import _SCALARS, canon

_READ, _WRITE, _CAS_OK, _CAS_FAIL, _CAS_ANY = 0, 1, 2, 3, 4
_CAS_KIND = {"ok": _CAS_OK, "fail": _CAS_FAIL, "info": _CAS_ANY}


class Lazy(Sequence):
    """A list whose length is known now and whose items are made on first use."""

    __slots__ = ("n", "make", "items")

    def __init__(self, n, make):
        self.n, self.make, self.items = n, make, None

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if self.items is None:
            self.items = self.make()
        return self.items[i]

    def __iter__(self):
        if self.items is None:
            self.items = self.make()
        return iter(self.items)


def supports(model) -> bool:
    return model is cas_register.CAS_REGISTER


def cas_register_groups(events):
    """{key: [(invoke index, completion index or -1, call, ret, kind, a, b)]} in
    invoke order, values canonical (not yet integers)."""
    pending, groups = {}, {}
    accepted = cas_register.CAS_REGISTER.operations
    scalar = _SCALARS
    for i, ev in enumerate(events):
        proc = ev["process"]
        if ev["type"] == "invoke":
            if proc in pending or ev["f"] not in accepted:
                return None  # let the general path say what is wrong
            pending[proc] = (i, ev)
            continue
        if proc == "nemesis":
            continue
        try:
            j, inv = pending.pop(proc)
        except KeyError:
            return None
        f, typ = inv["f"], ev["type"]
        if ev["f"] != f:
            return None
        if f == "read":
            if typ != "ok":
                continue
            v = ev["value"]
            rec = (j, i, inv["time"], ev["time"], _READ, v if type(v) in scalar else canon(v), None)
        elif typ == "fail" and (f != "cas" or ev.get("error") is not None):
            continue
        else:
            rec = _update(j, i, inv, ev["time"] if typ != "info" else INF, typ)
            if rec is None:
                return None
        key = inv.get("key")
        try:
            groups[key].append(rec)
        except KeyError:
            groups[key] = [rec]
        except TypeError:
            return None
    for j, inv in pending.values():
        if inv["f"] == "read":
            continue
        rec = _update(j, -1, inv, INF, "info")
        if rec is None:
            return None
        key = inv.get("key")
        try:
            groups.setdefault(key, []).append(rec)
        except TypeError:
            return None
    for recs in groups.values():
        recs.sort()  # appended at completion; the general path keeps invoke order
    # Keys in order of first invoke, as the general path has them.
    return dict(sorted(groups.items(), key=lambda kv: kv[1][0][0])) if len(groups) > 1 else groups


def _update(j, i, inv, ret, typ):
    """The record of a write, delete or cas; None if malformed."""
    f, v = inv["f"], inv["value"]
    if f == "cas":
        if type(v) is not list or len(v) != 2:
            return None
        x, y = v
        return (j, i, inv["time"], ret, _CAS_KIND[typ], x if type(x) in _SCALARS else canon(x),
                y if type(y) in _SCALARS else canon(y))
    if f == "delete":
        return (j, i, inv["time"], ret, _WRITE, None, None)
    return (j, i, inv["time"], ret, _WRITE, v if type(v) in _SCALARS else canon(v), None)


def encode_cas_register(recs) -> Encoded:
    """As checker.models.cas_register.encode (unread values share one state)."""
    observed = {None: 0}
    for r in recs:
        if r[4] != _WRITE:
            observed.setdefault(r[5], len(observed))
    unseen = len(observed)
    get = observed.get
    kind = [r[4] for r in recs]
    a = [observed[r[5]] if r[4] != _WRITE else get(r[5], unseen) for r in recs]
    b = [get(r[6], unseen) if r[4] >= _CAS_OK else 0 for r in recs]
    return Encoded(kind, a, b, init=0)


def entries(recs) -> list:
    """As core._entries: calls and returns in time order, calls first at equal times."""
    ev = [(r[2], 0, i) for i, r in enumerate(recs)]
    ev += [(r[3], 1, i) for i, r in enumerate(recs)]
    ev.sort()
    return [i if kind == 0 else ~i for _, kind, i in ev]


def operations(events, recs) -> list:
    """The `Operation`s of one partition's records."""
    ops = []
    for n, (j, i, call, ret, *_rest) in enumerate(recs):
        inv = events[j]
        if i >= 0:
            ev = events[i]
            op = Operation(n, inv["process"], inv["f"], inv.get("key"), inv.get("value"), ev.get("value"),
                           ev["type"], call, ret, ev.get("error"), (events, j))
        else:
            op = Operation(n, inv["process"], inv["f"], inv.get("key"), inv.get("value"), None, "info",
                           call, INF, None, (events, j))
        ops.append(op)
    return ops


def partitions(model, events):
    """[(key, ops, inputs, outputs, Encoded, entries)] with lazy ops/inputs/outputs,
    or None when the general path must handle (or report on) this history."""
    groups = cas_register_groups(events)
    if groups is None:
        return None
    out = []
    for key, recs in groups.items():
        n = len(recs)
        ops = Lazy(n, lambda recs=recs: operations(events, recs))
        ios = Lazy(n, lambda ops=ops: [model.prepare(op) for op in ops])
        out.append((key, ops, Lazy(n, lambda ios=ios: [io[0] for io in ios]),
                    Lazy(n, lambda ios=ios: [io[1] for io in ios]), encode_cas_register(recs), entries(recs)))
    return out
