"""The polynomial unique-value procedure (checker/unique.py) == the WGL search
on random unique-value histories: indeterminate ops, failed cas, crashed
processes, planted anomalies, and random ones rich in failed cas that overlap
the zones of the values they name. Every "linearizable" carries a certified
linearization; the bench runs the same comparison on >= 100,000 histories."""
from __future__ import annotations

import collections

import pytest

import checker
from checker import unique
from checker.synth import UNIQUE_MIX, Spec, crowd, generate, unique_history

pytestmark = pytest.mark.unit

KV_MIX = (("get", 50), ("append", 50))


def register_case(seed: int):
    """The generator mix of the CI test and of the benchmark's long run."""
    if seed % 2:
        return "cas-register", unique_history(seed, ops=6 + seed % 10, processes=2 + seed % 4)
    anomaly = [None, "stale-read", "lost-write", None, "cas-lie"][seed // 2 % 5]
    return "cas-register", generate(Spec(ops=20 + seed % 40, processes=2 + seed % 5, keys=1, values=0,
                                         p_info=[0, 0.08, 0.2][seed % 3], p_crash=0.03, p_fail=0.05,
                                         mix=UNIQUE_MIX, recent=True, anomaly=anomaly), seed)


def kv_case(seed: int):
    anomaly = [None, "stale-read", "lost-write", "duplicate-append", None][seed % 5]
    return "kv", generate(Spec(model="kv", ops=15 + seed % 30, processes=2 + seed % 4, keys=1,
                               p_info=[0, 0.05, 0.15][seed % 3], p_crash=0.03, mix=KV_MIX, anomaly=anomaly), seed)


def compare(cases):
    seen, wrong = collections.Counter(), []
    for model, events in cases:
        auto = checker.check(events, model, processes=1, witnesses=False)
        search = checker.check(events, model, processes=1, method="search", witnesses=False)
        for p in auto.partitions:
            seen[(p.method, p.valid)] += 1
        if auto.valid != search.valid:
            wrong.append((model, events, auto.valid, search.valid))
    return seen, wrong


def test_register_agrees_with_the_search():
    seen, wrong = compare(register_case(s) for s in range(3000))
    assert wrong == []
    # Both verdicts, all by the polynomial procedure (its precondition holds).
    assert seen[("unique-values", True)] >= 900 and seen[("unique-values", False)] >= 1500
    assert seen[("search", True)] + seen[("search", False)] == 0


def test_kv_append_agrees_with_the_search():
    seen, wrong = compare(kv_case(s) for s in range(800))
    assert wrong == []
    assert seen[("unique-values", True)] >= 300 and seen[("unique-values", False)] >= 150


def test_a_failed_cas_can_force_another_order_than_the_sorted_one():
    # Values 10 and 20 could go either way by their times, and the sorted order
    # puts 20 first; but the failed cas expecting the initial value returned at
    # 2, before 20's write was called, so 10 must end the initial zone.
    ev = [{"process": 0, "type": "invoke", "f": "write", "key": "k", "value": 10, "time": 0},
          {"process": 1, "type": "invoke", "f": "read", "key": "k", "time": 0},
          {"process": 2, "type": "invoke", "f": "cas", "key": "k", "value": [None, 99], "time": 1},
          {"process": 1, "type": "ok", "f": "read", "key": "k", "value": None, "time": 1},
          {"process": 2, "type": "fail", "f": "cas", "key": "k", "value": [None, 99], "time": 2},
          {"process": 3, "type": "invoke", "f": "write", "key": "k", "value": 20, "time": 5},
          {"process": 4, "type": "invoke", "f": "read", "key": "k", "time": 9},
          {"process": 4, "type": "ok", "f": "read", "key": "k", "value": 10, "time": 10},
          {"process": 0, "type": "ok", "f": "write", "key": "k", "value": 10, "time": 10},
          {"process": 3, "type": "ok", "f": "write", "key": "k", "value": 20, "time": 20}]
    r = checker.check(ev)
    assert r.valid is True and r.partitions[0].method == "unique-values"
    assert checker.check(ev, method="search").valid is True


def test_not_unique_goes_to_the_search():
    ev = [{"process": p, "type": t, "f": "write", "key": "k", "value": 1, "time": 2 * p + (t == "ok")}
          for p in range(2) for t in ("invoke", "ok")]
    r = checker.check(ev)
    assert r.valid is True and r.partitions[0].method == "search"


def test_certificate_rejects_a_wrong_order():
    ev = [{"process": 0, "type": "invoke", "f": "write", "key": "k", "value": 1, "time": 0},
          {"process": 0, "type": "ok", "f": "write", "key": "k", "value": 1, "time": 1},
          {"process": 1, "type": "invoke", "f": "read", "key": "k", "time": 2},
          {"process": 1, "type": "ok", "f": "read", "key": "k", "value": 1, "time": 3}]
    (p,) = checker.check(ev).partitions
    assert unique.certify_register(p.ops, p.inputs, p.outputs, None, [0, 1])
    assert not unique.certify_register(p.ops, p.inputs, p.outputs, None, [1, 0])
    assert not unique.certify_register(p.ops, p.inputs, p.outputs, None, [0])


def test_initial_value():
    ev = [{"process": 0, "type": "invoke", "f": "read", "key": "k", "time": 0},
          {"process": 0, "type": "ok", "f": "read", "key": "k", "value": 0, "time": 1}]
    assert checker.check(ev).valid is False
    assert checker.check(ev, initial=0).valid is True
    assert checker.check(ev, initial=0, method="search").valid is True


def test_memory_limit_gives_unknown_not_a_kill():
    # Many concurrent writes of repeated values: only the search applies, and its
    # cache would grow well past 1 MB.
    ev = crowd(16, 24, repeat=4, read=lambda p: (p * 7) % 5)
    for compiled in (True, False):
        # Unbounded, this search fills tens of millions of cache entries in a minute.
        r = checker.check(ev, compiled=compiled, max_memory=2**20, timeout=60)
        assert r.valid == checker.UNKNOWN and "memory limit" in r.partitions[0].note
