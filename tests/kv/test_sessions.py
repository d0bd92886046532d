"""The state machine's request-id sessions against a deliberately simple version of the same rules.

The window (SESSION_WINDOW results per client, retries older than that are 'stale') is kept with a
running maximum and a heap instead of max() and a scan per write; the answers and what is remembered
must not change, also across a restart (sessions reloaded from storage) and a Region merge's absorb.
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_kv.raft.types import Entry
from reference_kv.statemachine import SESSION_WINDOW, StateMachine, _pack, encode_command
from reference_kv.storage.memory import MemoryStorage

pytestmark = pytest.mark.unit


class Simple:
    """The rules as written before: max() and a scan on every write."""

    def __init__(self):
        self.sessions: dict[str, dict[int, object]] = {}

    def apply(self, cid: str, seq: int, result) -> object:
        results = self.sessions.setdefault(cid, {})
        if seq in results:
            return ("dup", results[seq])
        if results and seq <= max(results) - SESSION_WINDOW:
            return "stale"
        results[seq] = result
        if len(results) > SESSION_WINDOW:
            floor = max(results) - SESSION_WINDOW
            for s in [s for s in results if s <= floor]:
                del results[s]
        return "new"


def _put(sm: StateMachine, index: int, rid: str, value: bytes = b"1"):
    """Applies one put with request id `rid` as entry `index`; -> its result."""
    out = sm.persist_and_apply([], None, [Entry(term=1, index=index, data=encode_command("p", index, rid, "k", value))],
                               False)
    return out.results[index]


def _stale(out) -> bool:
    return type(out).__name__ == "StaleRequest"


# seqs mostly climbing, with retries of recent ones and stragglers from far back
steps = st.lists(st.tuples(st.sampled_from("ab"), st.one_of(st.integers(0, 6), st.integers(-400, -1)),
                           st.booleans()), min_size=1, max_size=900)


@settings(max_examples=60, deadline=None)
@given(steps)
def test_sessions_answer_as_the_simple_rules_do(plan):
    _compare(plan)


@pytest.mark.parametrize("seed", range(4))
def test_long_seeded_runs_answer_as_the_simple_rules_do(seed):
    """Long enough that every client's window fills and slides many times (hypothesis keeps plans short)."""
    import random
    rng = random.Random(seed)
    _compare([(rng.choice("ab"), rng.choice([0, 1, 1, 2, 3, -5, -255, -256, -257, -300]), rng.random() < 0.01)
              for _ in range(3000)])


def test_small_sessions_pack_as_fixmaps():
    db = MemoryStorage()
    sm = StateMachine(db)
    for i in range(1, 20):
        _put(sm, i, f"c:{i}")
        assert db.get(sm._session_prefix + b"c") == _pack({s: True for s in range(1, i + 1)})


def _compare(plan):
    db = MemoryStorage()
    sm = StateMachine(db)
    ref = Simple()
    top = {"a": 0, "b": 0}
    index = 0
    for cid, delta, restart in plan:
        seq = max(1, top[cid] + delta)
        top[cid] = max(top[cid], seq)
        index += 1
        assert _stale(_put(sm, index, f"{cid}:{seq}")) == (ref.apply(cid, seq, True) == "stale"), (cid, seq)
        assert sorted(sm.sessions()[cid]) == sorted(ref.sessions[cid]), (cid, seq)
        # what is stored is what packing the whole session gives, byte for byte
        assert db.get(sm._session_prefix + cid.encode()) == _pack(ref.sessions[cid]), (cid, seq)
        if restart:  # a restart reloads the sessions from storage
            sm = StateMachine(db)
            sm.load()
    assert {c: sorted(r) for c, r in sm.sessions().items()} == {c: sorted(r) for c, r in ref.sessions.items()}


def test_a_merge_absorbs_sessions_and_the_window_sees_them():
    db = MemoryStorage()
    sm = StateMachine(db)
    for i in range(1, 11):
        _put(sm, i, f"c:{i}")
    b = db.batch()
    sm.absorb_sessions(b, {"c": {SESSION_WINDOW + 500: True}})
    b.commit()
    # the absorbed seq is the client's highest now: seq 11 is far behind it, so stale
    assert _stale(_put(sm, 11, "c:11", b"2"))
