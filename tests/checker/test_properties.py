"""Compiled search == pure-Python search == a brute-force oracle that tries
every order, on small random histories of both built-in models."""
from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings, strategies as st

import checker
from checker import models

pytestmark = pytest.mark.unit


def oracle(history, model_name) -> bool:
    """Every total order consistent with real time, with info ops optionally left out."""
    model = models.get(model_name)
    ops = checker.core.operations(history)
    groups = checker.core._prepare(ops, model)
    for opl, ins, outs in groups.values():
        n = len(opl)
        found = False
        for perm in itertools.permutations(range(n)):
            pos = {i: k for k, i in enumerate(perm)}
            if any(opl[j].ret < opl[i].call and pos[i] < pos[j] for i in range(n) for j in range(n)):
                continue
            state, ok, cut = model.init(), True, None
            for k, i in enumerate(perm):
                legal, nxt = model.step(state, ins[i], outs[i])
                if not legal:
                    ok = False
                    cut = k
                    break
                state = nxt
            # Ops that never returned may simply not have happened: fine if
            # everything from the failure on is such an op (and their order is free).
            if ok or all(opl[i].ret == math.inf for i in perm[cut:]):
                found = True
                break
        if not found:
            return False
    return True


@st.composite
def histories(draw, model_name):
    n_proc = draw(st.integers(1, 3))
    n_ops = draw(st.integers(1, 6))
    keys = ["a", "b"]
    events, pending, t, nxt_proc = [], {}, 0, n_proc
    procs = list(range(n_proc))
    values = st.integers(0, 2)
    for _ in range(n_ops * 2):
        t += 1
        p = draw(st.sampled_from(procs))
        if p in pending:
            inv = pending.pop(p)
            typ = draw(st.sampled_from(["ok", "ok", "ok", "fail", "info"]))
            f = inv["f"]
            if typ == "fail" and f not in ("cas",) and model_name == "cas-register":
                typ = "ok"
            if typ == "fail" and model_name == "kv":
                typ = "ok"
            ev = {"process": p, "type": typ, "f": f, "key": inv["key"], "value": inv["value"], "time": t}
            if f in ("read", "get") and typ == "ok":
                if model_name == "kv":
                    ev["value"] = draw(st.sampled_from(["", "x", "y", "xy", "yx", "xx"]))
                else:
                    ev["value"] = draw(st.one_of(st.none(), values))
            events.append(ev)
            if typ == "info":
                procs.remove(p)
                procs.append(nxt_proc)
                nxt_proc += 1
        else:
            if model_name == "kv":
                f = draw(st.sampled_from(["get", "put", "append"]))
                v = None if f == "get" else draw(st.sampled_from(["x", "y", ""]))
            else:
                f = draw(st.sampled_from(["read", "write", "cas", "delete"]))
                v = None if f in ("read", "delete") else [draw(values), draw(values)] if f == "cas" else draw(values)
            inv = {"process": p, "type": "invoke", "f": f, "key": draw(st.sampled_from(keys)), "value": v, "time": t}
            pending[p] = inv
            events.append(inv)
        if sum(1 for e in events if e["type"] == "invoke") >= n_ops and not pending:
            break
    if draw(st.booleans()):
        events.insert(draw(st.integers(0, len(events))), {"process": "nemesis", "type": "info", "f": "kill", "value": ["n1"]})
    return events


GENERATED = ["cas-register", "kv"]  # the models histories() can draw for


def test_every_built_in_model_is_drawn():
    """A new built-in model fails here until histories() draws for it."""
    from checker.models import MODELS
    assert sorted(GENERATED) == sorted(MODELS)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_compiled_python_and_oracle_agree(data):
    model = data.draw(st.sampled_from(GENERATED))
    history = data.draw(histories(model))
    c = checker.check(history, model, compiled=True, witnesses=False).valid
    p = checker.check(history, model, compiled=False, witnesses=False).valid
    assert c == p
    assert c == oracle(history, model)


def test_oracle_sees_a_stale_read():
    h = [{"process": 0, "type": "invoke", "f": "write", "key": "a", "value": 1, "time": 1},
         {"process": 0, "type": "ok", "f": "write", "key": "a", "value": 1, "time": 2},
         {"process": 1, "type": "invoke", "f": "read", "key": "a", "value": None, "time": 3},
         {"process": 1, "type": "ok", "f": "read", "key": "a", "value": None, "time": 4}]
    assert oracle(h, "cas-register") is False
    assert checker.check(h).valid is False and checker.check(h, compiled=False).valid is False
    h[2]["time"], h[3]["time"] = 0.5, 4  # now concurrent with the write: fine
    h.sort(key=lambda e: e["time"])
    assert oracle(h, "cas-register") is True and checker.check(h).valid is True


def test_info_write_may_never_happen_or_happen_later():
    base = [{"process": 0, "type": "invoke", "f": "write", "key": "a", "value": 1, "time": 1},
            {"process": 0, "type": "info", "f": "write", "key": "a", "value": 1, "time": 2}]
    r = lambda v, t: [{"process": 1, "type": "invoke", "f": "read", "key": "a", "time": t},
                      {"process": 1, "type": "ok", "f": "read", "key": "a", "value": v, "time": t + 1}]
    assert checker.check(base + r(None, 3) + r(1, 5)).valid is True
    assert checker.check(base + r(1, 3) + r(None, 5)).valid is False
