"""The pure sub-modules checked against deliberately simple versions of themselves."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_kv.raft import (
    ConfChange, ConfChangeType, ConfState, Entry, ErrCompacted, Message, MsgType, SnapshotMeta,
    decode_conf_change, encode_conf_change, from_wire, to_wire,
)
from reference_kv.raft import quorum
from reference_kv.raft.log import RaftLog
from reference_kv.raft.progress import Inflights, Progress

pytestmark = pytest.mark.unit


@settings(derandomize=True, max_examples=60, deadline=None)
@given(st.dictionaries(st.integers(1, 9), st.integers(0, 50), min_size=1))
def test_committed_index_is_the_largest_value_a_majority_reached(match):
    voters = list(match)
    got = quorum.committed_index(voters, match.__getitem__)
    simple = max(v for v in set(match.values()) | {0}
                 if sum(1 for x in match.values() if x >= v) >= len(voters) // 2 + 1)
    assert got == simple


@settings(derandomize=True, max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([True, False, None]), min_size=1, max_size=7))
def test_vote_result_matches_counting(vs):
    voters = list(range(1, len(vs) + 1))
    votes = {i: v for i, v in zip(voters, vs) if v is not None}
    q = len(voters) // 2 + 1
    yes = sum(1 for v in votes.values() if v)
    no = sum(1 for v in votes.values() if not v)
    want = quorum.WON if yes >= q else quorum.LOST if len(voters) - no < q else quorum.PENDING
    assert quorum.vote_result(voters, votes) == want


terms_st = st.lists(st.integers(1, 4), min_size=0, max_size=30).map(sorted)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(terms_st, st.integers(0, 5), st.integers(0, 40), st.integers(0, 5))
def test_find_conflict_by_term_matches_a_backward_scan(terms, snap, index, term):
    snap_term = min(terms[0], 1) if terms else 1
    log = RaftLog(SnapshotMeta(snap, snap_term if snap else 0),
                  [Entry(t, snap + 1 + k) for k, t in enumerate(terms)])
    index = min(index, log.last_index())
    if index <= snap:
        want = index
    else:
        want = index
        while want > snap and log.term(want) > term:
            want -= 1
    assert log.find_conflict_by_term(index, term) == want


def test_maybe_append_truncates_only_the_conflicting_suffix():
    log = RaftLog(None, [Entry(1, 1), Entry(1, 2), Entry(2, 3), Entry(2, 4)])
    log.commit_to(2)
    assert log.maybe_append(2, 1, 3, [Entry(3, 3)]) == 3
    assert [(e.index, e.term) for e in log.ents] == [(1, 1), (2, 1), (3, 3)]
    assert log.committed == 3 and log.stabled == 2
    assert log.maybe_append(3, 2, 3, []) is None  # the term at 3 no longer matches


def test_maybe_append_ignores_a_stale_duplicate_without_truncating():
    log = RaftLog(None, [Entry(1, 1), Entry(1, 2), Entry(1, 3)])
    assert log.maybe_append(0, 0, 0, [Entry(1, 1)]) == 1
    assert log.last_index() == 3


def test_truncating_a_committed_entry_is_a_broken_invariant():
    log = RaftLog(None, [Entry(1, 1), Entry(1, 2)])
    log.commit_to(2)
    with pytest.raises(AssertionError, match="committed"):
        log.maybe_append(1, 1, 2, [Entry(2, 2)])


def test_compaction_keeps_term_lookups_at_the_snapshot_and_refuses_below():
    log = RaftLog(None, [Entry(1, i) for i in range(1, 11)])
    log.commit_to(10)
    log.applied_to(8)
    log.compact(8, 1, ConfState((1,)))
    assert log.first_index() == 9 and log.term(8) == 1 and log.last_index() == 10
    with pytest.raises(ErrCompacted):
        log.term(7)
    with pytest.raises(ErrCompacted):
        log.entries_from(8, 1 << 20, 100)
    assert [e.index for e in log.entries_from(9, 1 << 20, 100)] == [9, 10]


def test_entries_from_respects_size_but_returns_at_least_one():
    log = RaftLog(None, [Entry(1, i, data=b"x" * 100) for i in range(1, 11)])
    assert len(log.entries_from(1, 10, 100)) == 1
    assert len(log.entries_from(1, 350, 100)) == 3
    assert len(log.entries_from(1, 1 << 20, 4)) == 4


def test_inflights_free_and_full():
    f = Inflights(3)
    for i in (5, 7, 9):
        f.add(i)
    assert f.full()
    f.free_le(7)
    assert len(f) == 1 and not f.full()
    f.free_first_one()
    assert len(f) == 0


def test_progress_probe_pauses_until_answered_and_ignores_stale_rejections():
    pr = Progress(11, 4)
    pr.sent_entries(12)
    assert pr.is_paused()
    assert not pr.maybe_decr_to(5, 3)  # not the append in flight
    assert pr.maybe_decr_to(10, 6)
    assert pr.next == 7 and not pr.is_paused()
    pr.maybe_update(9)
    pr.become_replicate()
    assert pr.next == 10
    for last in (12, 14, 16, 18):
        pr.sent_entries(last)
    assert pr.is_paused() and pr.next == 19


@settings(derandomize=True, max_examples=60, deadline=None)
@given(st.sampled_from(list(ConfChangeType)), st.integers(1, 2**40), st.binary(max_size=20),
       st.one_of(st.none(), st.tuples(st.lists(st.integers(1, 99), max_size=5),
                                      st.lists(st.integers(1, 99), max_size=3))))
def test_conf_change_round_trips(t, node, ctx, base):
    b = None if base is None else ConfState(tuple(base[0]), tuple(base[1]))
    cc = ConfChange(t, node, ctx, b)
    assert decode_conf_change(encode_conf_change(cc)) == cc


def test_message_wire_round_trip():
    m = Message(MsgType.APP, 2, 1, 5, 4, 10, (Entry(5, 11, data=b"a"),), 9, False, 0, b"c",
                SnapshotMeta(3, 2, ConfState((1, 2), (3,))))
    assert from_wire(to_wire(m)) == m


