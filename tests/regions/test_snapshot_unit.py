"""A Region snapshot round trip on real in-memory stores: only the Region's range and its group move."""
from __future__ import annotations

import msgpack
import pytest

from reference_kv.raft.types import ConfState, HardState, SnapshotMeta
from reference_kv.regions import layout, snapshot
from reference_kv.regions.region import Epoch, Region
from reference_kv.statemachine import StateMachine
from reference_kv.storage.memory import MemoryStorage

pytestmark = pytest.mark.unit


def _put(db, items):
    b = db.batch()
    for k, v in items:
        b.set(k, v)
    b.commit(sync=True)


def test_region_snapshot_replaces_the_range_sessions_and_raft_state(tmp_path):
    region = Region(4, "k", "p", Epoch(1, 7), (1, 2, 3))
    leader, follower = MemoryStorage(), MemoryStorage()
    lo, _ = layout.data_bounds("k", "p")
    _put(leader, [(lo + b"1", b"1"), (layout.data_bounds("m", "")[0], b"2"), (layout.data_bounds("z", "")[0], b"out"),
                  (layout.session_key(4, "c1"), msgpack.packb({3: True})), (layout.session_key(5, "c9"), b"x")])
    meta = SnapshotMeta(120, 6, ConfState((1, 2, 3), ()))
    path = snapshot.dump(leader, 4, region, ("left", 119), meta, tmp_path / "s")
    # The follower: stale data in the range, a key of another Region, an old log and session.
    _put(follower, [(lo + b"0", b"stale"), (layout.data_bounds("a", "")[0], b"other"),
                    (layout.session_key(4, "old"), b"x"), (layout.group_prefix(4) + b"\x01" + b"\0" * 8, b"entry")])
    got = snapshot.install(follower, 4, snapshot.load(path), meta, HardState(7, 2, 100))
    assert got == region
    data = dict(follower.iterate(b"\x04", b"\x05"))
    assert data == {lo + b"1": b"1", layout.data_bounds("m", "")[0]: b"2", layout.data_bounds("a", "")[0]: b"other"}
    assert Region.unpack(follower.get(layout.local_region_key(4))) == region
    assert msgpack.unpackb(follower.get(layout.merging_key(4)), raw=False) == ["left", 119]
    sm = StateMachine(follower, prefix=layout.group_prefix(4))
    loaded = sm.load()
    assert (loaded.applied, loaded.snapshot.index, loaded.entries) == (120, 120, [])
    assert loaded.hard_state == HardState(7, 2, 120)
    assert set(sm.sessions()) == {"c1"} and sm.sessions()["c1"] == {3: True}
    # Offered under the wrong group or index: refused, nothing written.
    with pytest.raises(ValueError):
        snapshot.install(follower, 5, snapshot.load(path), meta, HardState())
    bad = tmp_path / "bad"
    bad.write_bytes(msgpack.packb([1, 2]))
    with pytest.raises(ValueError):
        snapshot.load(bad)
