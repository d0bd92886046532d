"""What the bug campaigns' faults wait for, from the nodes' status (nemesis/faults/observe.py),
which the suite hands them through the fault context (`Context.status`, the system adapter's probe)."""
from __future__ import annotations

import random
import time

import pytest

from nemesis.faults import Context, FaultUnavailable, observe


class _Nodes:
    def nodes(self):
        return ["1", "2", "3"]


def _ctx(answers):
    """A context whose nodes report a status from `answers` (node -> status or None), in turn."""
    seq = {n: list(v) if isinstance(v, list) else [v] for n, v in answers.items()}

    def status(node, timeout):
        q = seq[node]
        return q.pop(0) if len(q) > 1 else q[0]

    return Context(_Nodes(), random.Random(0), status=status)


def _st(role, term, leader):
    return {"role": role, "term": term, "leader": leader, "commit": 7}


@pytest.mark.unit
def test_wait_for_returns_the_first_truthy_value_and_none_once_the_time_is_up():
    values = iter([0, None, 5, 6])
    assert observe.wait_for(lambda: next(values), 1.0, period=0) == 5
    t0 = time.monotonic()
    assert observe.wait_for(lambda: False, 0.05, period=0.01) is None
    assert time.monotonic() - t0 < 1.0
    assert observe.wait_for(lambda: False, 0) is None  # timeout 0: looked at once


@pytest.mark.unit
def test_settled_needs_every_node_up_and_following_one_leader_in_one_term():
    calm = {"1": _st("leader", 3, 1), "2": _st("follower", 3, 1), "3": _st("follower", 3, 1)}
    leader, sts = observe.settled(_ctx(calm), 0.1)
    assert leader == "1" and sts["2"]["term"] == 3
    booting = dict(calm, **{"3": None})
    assert observe.settled(_ctx(booting), 0.1) is None
    deposed = dict(calm, **{"2": _st("leader", 4, 2), "3": _st("follower", 4, 2)})
    assert observe.settled(_ctx(deposed), 0.1) is None
    # a node still booting settles once it answers
    later = dict(calm, **{"3": [None, None, _st("follower", 3, 1)]})
    assert observe.settled(_ctx(later), 1.0)[0] == "1"


@pytest.mark.unit
def test_a_system_without_a_status_is_refused_not_waited_for():
    ctx = _ctx({"1": None, "2": None, "3": None})
    with pytest.raises(FaultUnavailable):
        observe.settled(ctx, 5.0)
    ctx.leader = lambda: "2"
    assert observe.steady_leader(ctx) == "2"  # the same fault still runs elsewhere, aimed by the suite
    no_probe = Context(_Nodes(), random.Random(0), leader=lambda: "3")  # a suite that gives no status at all
    with pytest.raises(FaultUnavailable):
        observe.status(no_probe, "1")
    assert observe.steady_leader(no_probe) == "3"


@pytest.mark.unit
def test_leader_after_a_term_is_one_leading_in_a_later_term():
    ctx = _ctx({"1": None, "2": _st("leader", 3, 2), "3": _st("follower", 3, 2)})
    assert observe.leader_after(ctx, ["2", "3"], 2) == ("2", _st("leader", 3, 2))
    assert observe.leader_after(ctx, ["2", "3"], 3) is None
