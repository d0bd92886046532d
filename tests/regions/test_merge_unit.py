"""Merge arithmetic (range, epoch), the merge decision, and the meta directory dropping a merged source."""
from __future__ import annotations

import json

import pytest

from reference_kv.regions import meta
from reference_kv.regions.layout import META_DATA
from reference_kv.regions.merge import live_size, merge_candidate
from reference_kv.regions.region import Epoch, Region, RegionMap
from reference_kv.statemachine import StateMachine, encode_command
from reference_kv.raft.types import Entry
from reference_kv.storage.memory import MemoryStorage

pytestmark = pytest.mark.unit

P = (1, 2, 3)


def test_merge_covers_both_ranges_with_a_version_above_both():
    left, right = Region(1, "a", "m", Epoch(1, 4), P), Region(7, "m", "", Epoch(2, 9), P)
    assert left.side_of(right) == "right" and right.side_of(left) == "left"
    into_left = left.merge(right)
    assert (into_left.id, into_left.start, into_left.end, into_left.epoch) == (1, "a", "", Epoch(2, 10))
    into_right = right.merge(left)
    assert (into_right.id, into_right.start, into_right.end, into_right.epoch) == (7, "a", "", Epoch(2, 10))
    # A route cache holding both halves ends with the merged Region alone.
    m = RegionMap([left, right])
    m.update(into_right)
    assert [r.id for r in m] == [7] and m.find("b").id == 7


def test_merge_refuses_non_adjacent_or_different_peers():
    a, c = Region(1, "a", "c", Epoch(1, 2), P), Region(2, "d", "f", Epoch(1, 2), P)
    assert a.side_of(c) is None
    with pytest.raises(ValueError):
        a.merge(c)
    with pytest.raises(ValueError):
        a.merge(Region(3, "c", "d", Epoch(1, 2), (1, 2)))
    # "" as an end is unbounded, never adjacent to a Region starting at "".
    assert Region(1, "x", "").side_of(Region(2, "", "b")) is None


def _layout():
    return [Region(1, "", "f", Epoch(1, 3), P), Region(2, "f", "m", Epoch(1, 3), P), Region(3, "m", "", Epoch(1, 3), P)]


def test_merge_decision():
    regions = _layout()
    small = {1: 10, 2: 10, 3: 10}
    # This store leads a small Region and its small left neighbour: the left one absorbs it.
    assert merge_candidate(1, regions, {1: 1, 2: 1, 3: 2}, small, 100, 800) == ("merge", 2, 1)
    # Region 1 (from "") is never the source.
    assert merge_candidate(1, regions, {1: 1, 2: 2, 3: 2}, small, 100, 800) is None
    # Off, or one of them too big, or the pair would split again at once: nothing.
    assert merge_candidate(1, regions, {1: 1, 2: 1, 3: 2}, small, 0, 800) is None
    assert merge_candidate(1, regions, {1: 1, 2: 1, 3: 1}, {1: 100, 2: 10, 3: 100}, 100, 800) is None
    assert merge_candidate(1, regions, {1: 1, 2: 1, 3: 1}, {1: 60, 2: 60, 3: 60}, 100, 100) is None
    # A busy neighbour (splitting, merging) is left alone; the next pair goes.
    assert merge_candidate(1, regions, {1: 1, 2: 1, 3: 1}, small, 100, 800, busy={1}) == ("merge", 3, 2)
    # The neighbour is led elsewhere: hand ours over, but only toward a lower node id (no swapping).
    assert merge_candidate(3, regions, {1: 1, 2: 3, 3: 9}, small, 100, 800) == ("transfer", 2, 1)
    assert merge_candidate(1, regions, {1: 3, 2: 1, 3: 3}, small, 100, 800) is None
    # Different peers never merge.
    odd = [Region(1, "", "f", Epoch(1, 3), P), Region(2, "f", "", Epoch(1, 3), (1, 2))]
    assert merge_candidate(1, odd, {1: 1, 2: 1}, {1: 1, 2: 1}, 100, 800) is None


def test_live_size_counts_data_of_the_range_up_to_the_cap():
    db = MemoryStorage()
    sm = StateMachine(db, owns=None)
    entries = [Entry(index=i + 1, term=1, data=encode_command("p", 0, None, k, b"x" * 10))
               for i, k in enumerate(["a1", "a2", "g1", "z9"])]
    sm.persist_and_apply(entries, None, entries, True)
    r = Region(1, "a", "b")
    assert live_size(db, r, 10**6) == 2 * (1 + 2 + 10)
    assert live_size(db, Region(1, "", ""), 14) < 4 * 13
    assert live_size(db, Region(1, "b", "g"), 100) == 0


def test_meta_directory_drops_a_merged_source():
    db = MemoryStorage()
    left, right = Region(1, "", "m", Epoch(1, 2), P), Region(2, "m", "", Epoch(1, 2), P)
    b = db.batch()
    for k, v in meta.bootstrap_entries(left):
        b.set(k, v)
    b.commit(sync=True)
    sm = StateMachine(db, data_prefix=META_DATA, extra_ops=meta.META_OPS)
    prepared = Region(2, "m", "", Epoch(1, 3), P)  # a prepare bumps the source's version
    cmds = [("R", [[right.to_json(), 1]]), ("R", [[left.merge(prepared).to_json(), 2]]),
            ("R", [[prepared.to_json(), 3]])]  # a late word from the source
    entries = [Entry(index=i + 1, term=1, data=encode_command(op, 0, None, "", a)) for i, (op, a) in enumerate(cmds)]
    sm.persist_and_apply(entries, None, entries, True)
    d = meta.directory(db)
    assert [(r.id, r.start, r.end, r.epoch.version, lead) for r, lead in d] == [(1, "", "", 4, 2)]
    assert json.loads(db.get(META_DATA + meta.NEXT_ID.encode())) == 2
