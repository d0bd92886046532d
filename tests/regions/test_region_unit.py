"""Region descriptors, lookup, sizes, split-key choice, route cache, and the apply-time range check."""
from __future__ import annotations

import pytest

from reference_kv.raft.types import Entry
from reference_kv.regions import meta
from reference_kv.regions.balance import pick_transfer
from reference_kv.regions.region import Epoch, Region, RegionMap, parse_size
from reference_kv.regions.routes import RouteCache
from reference_kv.regions.split import choose_split_key, find_split_key, split_limit
from reference_kv.statemachine import EPOCH_NOT_MATCH, StateMachine, encode_command
from reference_kv.storage.memory import MemoryStorage

pytestmark = pytest.mark.unit


def test_region_contains_and_split():
    r = Region(1, "b", "m", Epoch(1, 3), (1, 2, 3))
    assert r.contains("b") and r.contains("lzz") and not r.contains("m") and not r.contains("a")
    left, right = r.split("f", 7)
    assert (left.id, left.start, left.end, left.epoch) == (1, "b", "f", Epoch(1, 4))
    assert (right.id, right.start, right.end, right.epoch, right.peers) == (7, "f", "m", Epoch(1, 4), (1, 2, 3))
    with pytest.raises(ValueError):
        r.split("b", 8)  # the left half would be empty
    whole = Region(1)
    assert whole.contains("") and whole.contains("\uffff") and whole.inside("a") and not whole.inside("")


def test_region_encodings_round_trip():
    r = Region(5, "k1", "", Epoch(2, 9), (1, 3))
    assert Region.unpack(r.pack()) == r
    assert Region.from_json(r.to_json()) == r
    assert Epoch.parse(str(r.epoch)) == r.epoch
    for bad in ("1", "a.b", "1.", ""):
        with pytest.raises(ValueError):
            Epoch.parse(bad)
    with pytest.raises(ValueError):
        Region.from_json({"start": "a"})


def test_region_map_lookup_and_newer_wins():
    m = RegionMap([Region(1, "", "g", Epoch(1, 2)), Region(2, "g", "", Epoch(1, 2))])
    assert m.find("a").id == 1 and m.find("g").id == 2 and m.find("zzz").id == 2
    # A stale descriptor of region 1 (before the split) must not hide region 2.
    assert not m.update(Region(1, "", "", Epoch(1, 1)))
    assert m.find("h").id == 2
    # Region 2 splits: the newer halves replace it.
    m.update(Region(3, "p", "", Epoch(1, 3)))
    m.update(Region(2, "g", "p", Epoch(1, 3)))
    assert [r.id for r in m] == [1, 2, 3] and m.find("q").id == 3 and m.find("h").id == 2


def test_parse_size():
    assert parse_size("256KiB") == 256 << 10
    assert parse_size("1MiB") == 1 << 20
    assert parse_size("64MiB") == 64 << 20
    assert parse_size("4096") == 4096
    for bad in ("", "KiB", "-1MiB", "1XB", "0"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_choose_split_key_near_the_middle_and_inside():
    r = Region(1, "a", "")
    sizes = [(f"k{i}", 10) for i in range(10)]
    assert choose_split_key(sizes, r, 100) == "k4"
    # The first key equals the Region's start: never split there (empty left half).
    assert choose_split_key([("a", 90), ("b", 10)], r, 100) == "b"
    assert choose_split_key([("a", 100)], r, 100) is None


def test_find_split_key_on_a_real_store():
    db = MemoryStorage()
    for i in range(200):
        db.set(b"\x04" + f"key{i:04d}".encode(), b"x" * 100)
    r = Region(1)
    assert find_split_key(db, r, 1 << 20) is None
    key = find_split_key(db, r, 10_000)
    assert "key0090" <= key <= "key0110"
    assert find_split_key(db, Region(2, "key0150", ""), 10_000) is None  # only 50 keys there


def test_route_cache_learns_and_forgets():
    rc = RouteCache()
    rc.learn([{"id": 1, "start": "", "end": "m", "epoch": {"conf_ver": 1, "version": 2},
               "peers": [1, 2, 3], "leader_address": "127.0.0.1:1"},
              {"id": 2, "start": "m", "end": "", "epoch": {"conf_ver": 1, "version": 2}, "peers": [1, 2, 3]},
              "garbage"])
    assert rc.lookup("a") == (rc.map.get(1), "127.0.0.1:1")
    assert rc.lookup("z") == (rc.map.get(2), None)
    rc.set_leader(2, "127.0.0.1:2")
    assert rc.lookup("z")[1] == "127.0.0.1:2"
    rc.learn("not a list")
    assert len(rc) == 2


def _committed(index, op, key, a=None, b=None, rid=None):
    return Entry(term=1, index=index, data=encode_command(op, index, rid, key, a, b))


def test_state_machine_refuses_keys_outside_its_range_and_remembers_no_result():
    db = MemoryStorage()
    owned = {"hi": True}
    sm = StateMachine(db, prefix=b"\x10r1", owns=lambda k: k < "m" or owned["hi"])
    out = sm.persist_and_apply([], None, [_committed(1, "p", "z", b"1", rid="c:1")], True)
    assert out.results[1] is True
    owned["hi"] = False  # a split moved [m, ...) away
    out = sm.persist_and_apply([], None, [_committed(2, "p", "z", b"2", rid="c:2"),
                                          _committed(3, "p", "a", b"3", rid="c:3")], True)
    assert out.results[2] is EPOCH_NOT_MATCH and out.results[3] is True
    assert sm.read("z") == b"1" and sm.read("a") == b"3"
    assert "2" not in {str(s) for s in sm.sessions()["c"]}  # the refused request may be retried elsewhere
    # Group keys live under the prefix; data keys stay global.
    assert db.get(b"\x04a") == b"3" and any(k.startswith(b"\x10r1") for k, _ in db.iterate(None, None))


def test_meta_ops_allocate_ids_and_keep_the_newest_descriptor():
    db = MemoryStorage()
    for k, v in meta.bootstrap_entries(Region(1)):
        db.set(k, v)
    sm = StateMachine(db, prefix=b"\x10m", data_prefix=b"\x12", extra_ops=meta.META_OPS)
    new = Region(1, "", "k", Epoch(1, 2), (1,))
    old = Region(1, "", "", Epoch(1, 1), (1,))
    out = sm.persist_and_apply([], None, [
        _committed(1, "I", ""), _committed(2, "I", ""),
        _committed(3, "R", "", [[new.to_json(), 2]]), _committed(4, "R", "", [[old.to_json(), 3]]),
    ], True)
    assert (out.results[1], out.results[2]) == (2, 3)
    assert meta.directory(db) == [(new, 2)]


def test_leader_balance_moves_one_leadership_from_the_busiest_to_the_idlest():
    leaders = {1: 1, 2: 1, 3: 1, 4: 2}
    assert pick_transfer(1, leaders, [1, 2, 3]) == (3, 3)
    assert pick_transfer(1, leaders, [1, 2, 3], busy={3}) == (2, 3)
    assert pick_transfer(2, leaders, [1, 2, 3]) is None  # only the busiest node gives
    assert pick_transfer(1, {1: 1, 2: 1, 3: 2}, [1, 2]) is None  # a gap of one: moving just swaps
    assert pick_transfer(1, {1: 1, 2: 1, 3: 1, 4: 0}, [1, 2, 3]) is None  # an election is running


def test_hot_regions_split_at_a_quarter_of_the_size():
    assert split_limit(50, 100, 1 << 20) == 1 << 20
    assert split_limit(150, 100, 1 << 20) == 1 << 18
    assert split_limit(10**6, 0, 1 << 20) == 1 << 20  # off
