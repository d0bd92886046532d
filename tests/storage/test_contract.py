"""Behaviour both stores must share (each test runs on MemoryStorage and PebbleDB)."""
from __future__ import annotations

import random

import pytest

from reference_kv.storage import Batch, Storage, StorageError, prefix_upper
from reference_kv.storage.base import METRIC_KEYS


def fill(store, n=50, sync=False):
    items = [(b"k%03d" % i, b"v%d" % i) for i in range(n)]
    store.write_many(items, sync=sync)
    return items


def test_is_a_storage(store):
    assert isinstance(store, Storage)
    assert isinstance(store.batch(), Batch)


def test_round_trip_and_overwrite(store):
    assert store.get(b"a") is None
    store.set(b"a", b"1")
    store.set(b"", b"empty key")
    store.set(b"z", b"")
    assert store.get(b"a") == b"1"
    assert store.get(b"") == b"empty key"
    assert store.get(b"z") == b""  # empty value is present, not absent
    store.set(b"a", b"2", sync=False)
    assert store.get(b"a") == b"2"
    store.delete(b"a")
    assert store.get(b"a") is None
    store.delete(b"never-there")  # deleting an absent key is fine


def test_binary_and_large_values(store):
    big = bytes(random.Random(1).randbytes(1 << 20))
    key = bytes(range(256))
    store.set(key, big)
    assert store.get(key) == big
    assert store.scan() == [(key, big)]


def test_get_many(store):
    fill(store, 10)
    assert store.get_many([b"k003", b"nope", b"k000"]) == [b"v3", None, b"v0"]
    assert store.get_many([]) == []


def test_iterate_bounds(store):
    items = fill(store)
    assert store.scan() == items
    assert store.scan(lower=b"k010", upper=b"k015") == items[10:15]
    assert store.scan(lower=b"k045") == items[45:]
    assert store.scan(upper=b"k003") == items[:3]
    assert store.scan(lower=b"k0105", upper=b"k012") == items[11:12]  # bounds between keys
    assert store.scan(lower=b"k020", upper=b"k020") == []
    assert store.scan(lower=b"x") == []


def test_iterate_reverse_and_limit(store):
    items = fill(store)
    assert store.scan(reverse=True) == items[::-1]
    assert store.scan(lower=b"k010", upper=b"k015", reverse=True) == items[10:15][::-1]
    assert store.scan(limit=3) == items[:3]
    assert store.scan(reverse=True, limit=2) == items[-2:][::-1]
    assert store.scan(lower=b"k040", upper=b"k045", reverse=True, limit=2) == [items[44], items[43]]
    assert store.scan(limit=0) == []


def test_iterate_prefix(store):
    store.write_many([(b"a\xff", b"1"), (b"b\x00", b"2"), (b"b\xff\xff", b"3"), (b"c", b"4")])
    assert store.scan(prefix=b"b") == [(b"b\x00", b"2"), (b"b\xff\xff", b"3")]
    assert store.scan(prefix=b"b\xff") == [(b"b\xff\xff", b"3")]
    assert prefix_upper(b"\xff\xff") is None
    with pytest.raises(ValueError):
        store.scan(prefix=b"b", lower=b"a")


def test_iteration_is_a_snapshot(store):
    items = fill(store, 10)
    it = store.iterate()
    assert next(it) == items[0]
    store.set(b"k005", b"changed")
    store.delete(b"k006")
    rest = list(it)
    assert rest == items[1:]  # the writes after iteration began are not seen
    assert store.get(b"k005") == b"changed"


def test_iterate_many_chunks(store):
    # More data than one transfer chunk, with values of very different sizes.
    rng = random.Random(7)
    items = sorted((b"key%06d" % i, rng.randbytes(rng.choice([0, 10, 3000, 70000]))) for i in range(400))
    store.write_many(items)
    assert store.scan() == items
    assert store.scan(reverse=True) == items[::-1]


def test_batch_is_atomic_and_ordered(store):
    fill(store, 5)
    b = store.batch()
    b.set(b"k000", b"new")
    b.delete(b"k001")
    b.set(b"k001", b"again")  # later operations in a batch win
    b.delete_range(b"k002", b"k004")
    b.set(b"k003", b"after-range")
    assert store.get(b"k000") == b"v0"  # nothing visible before commit
    assert len(b) == 5
    b.commit()
    assert store.scan() == [(b"k000", b"new"), (b"k001", b"again"), (b"k003", b"after-range"),
                            (b"k004", b"v4")]
    with pytest.raises(StorageError):
        b.commit()
    with pytest.raises(StorageError):
        b.set(b"x", b"y")


def test_discarded_batch_writes_nothing(store):
    with store.batch() as b:
        b.set(b"a", b"1")
    assert store.get(b"a") is None
    b2 = store.batch()
    b2.set(b"b", b"1")
    b2.close()
    assert store.get(b"b") is None


def test_unsynced_batch(store):
    b = store.batch()
    for i in range(100):
        b.set(b"u%03d" % i, b"x" * 100)
    b.commit(sync=False)
    assert len(store.scan(prefix=b"u")) == 100


def test_big_batch_streams_and_stays_atomic(store):
    # Lowering the spill threshold makes Pebble use its Go-side batch handle.
    store._spill_bytes = 4096
    b = store.batch()
    for i in range(300):
        b.set(b"s%04d" % i, b"v" * 100)
    assert store.get(b"s0000") is None
    b.commit()
    assert len(store.scan(prefix=b"s")) == 300
    b2 = store.batch()
    for i in range(300):
        b2.delete(b"s%04d" % i)
    b2.close()  # releases the streamed part without writing it
    assert len(store.scan(prefix=b"s")) == 300


def test_delete_range(store):
    items = fill(store, 20)
    store.delete_range(b"k005", b"k010")
    assert store.scan() == items[:5] + items[10:]
    store.delete_range(b"k015", b"k015")  # empty range
    assert len(store.scan()) == 15
    with pytest.raises(StorageError):
        store.delete_range(b"k010", b"k005")


def test_bad_key_types(store):
    with pytest.raises(TypeError):
        store.set("str", b"v")
    with pytest.raises(TypeError):
        store.batch().set(b"k", 5)
    store.set(bytearray(b"ba"), memoryview(b"mv"))
    assert store.get(b"ba") == b"mv"


def test_checkpoint_reopens(store, tmp_path):
    from reference_kv.storage.memory import MemoryStorage

    items = fill(store, 30)
    target = tmp_path / "cp"
    store.checkpoint(target)
    store.set(b"k000", b"after")
    with pytest.raises(StorageError):
        store.checkpoint(target)  # never overwrite a checkpoint
    if isinstance(store, MemoryStorage):
        copy = MemoryStorage.open(target)
    else:
        from reference_kv.storage.pebble import PebbleDB

        copy = PebbleDB(target)
    try:
        assert copy.scan() == items
    finally:
        copy.close()


def test_metrics_and_disk_usage(store):
    m0 = store.metrics()
    assert set(METRIC_KEYS) <= set(m0)
    rng = random.Random(3)  # incompressible, so sizes on disk are predictable
    store.write_many([(b"m%05d" % i, rng.randbytes(200)) for i in range(2000)])
    store.flush()
    m1 = store.metrics()
    assert m1["wal_bytes_written"] > m0["wal_bytes_written"]
    assert m1["disk_space_usage"] > 0
    whole = store.estimate_disk_usage(b"m", b"n")
    half = store.estimate_disk_usage(b"m00000", b"m00999")
    assert 2000 * 200 * 0.8 <= whole <= 2000 * 200 * 2
    assert whole * 0.3 <= half <= whole * 0.7
    assert store.estimate_disk_usage(b"x", b"z") <= whole // 10


def test_use_after_close_raises(make_store):
    store = make_store()
    store.set(b"a", b"1")
    it = store.iterate()
    store.close()
    store.close()  # idempotent
    for call in (lambda: store.get(b"a"), lambda: store.set(b"a", b"2"), lambda: store.scan(),
                 lambda: store.batch().commit(), lambda: store.metrics(), lambda: store.flush(),
                 lambda: store.get_many([b"a"])):
        with pytest.raises(StorageError, match="closed"):
            call()


def test_random_operations_agree_with_a_dict(store):
    rng = random.Random(42)
    model: dict[bytes, bytes] = {}
    for _ in range(300):
        b = store.batch()
        for _ in range(rng.randint(1, 5)):
            k = b"r%02d" % rng.randrange(40)
            roll = rng.random()
            if roll < 0.6:
                v = rng.randbytes(rng.randrange(20))
                b.set(k, v)
                model[k] = v
            elif roll < 0.9:
                b.delete(k)
                model.pop(k, None)
            else:
                e = b"r%02d" % rng.randrange(40)
                s, e = min(k, e), max(k, e)
                b.delete_range(s, e)
                for key in [x for x in model if s <= x < e]:
                    del model[key]
        b.commit(sync=False)
        lo, hi = sorted(b"r%02d" % rng.randrange(41) for _ in range(2))
        want = sorted((k, v) for k, v in model.items() if lo <= k < hi)
        assert store.scan(lower=lo, upper=hi) == want
        assert store.scan(lower=lo, upper=hi, reverse=True) == want[::-1]
