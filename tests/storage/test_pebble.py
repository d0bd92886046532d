"""Pebble-specific behaviour: errors, checkpoints, threads, the event loop."""
from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest

from reference_kv.storage import StorageError, open_storage
from reference_kv.storage.aio import AsyncStorage
from reference_kv.storage.pebble import PebbleDB

pytestmark = pytest.mark.integration


def test_bad_paths_raise_clean_errors(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(StorageError, match="cannot open Pebble"):
        PebbleDB(not_a_dir)
    with pytest.raises(StorageError, match="cannot open Pebble"):
        PebbleDB(tmp_path / "missing", create_if_missing=False)


def test_second_open_of_a_locked_db_fails(pebble_db):
    with pytest.raises(StorageError, match="lock"):
        PebbleDB(pebble_db.path)


def test_iterator_and_batch_outliving_close(tmp_path):
    db = PebbleDB(tmp_path / "db")
    db.write_many([(b"a", b"1"), (b"b", b"2")])
    it = db.iterate()
    assert next(it) == (b"a", b"1")
    spilled = db.batch()
    db._spill_bytes = 1  # force a Go-side batch handle
    spilled.set(b"c", b"3")
    db.close()  # closes the Go iterator and batch too, instead of refusing
    with pytest.raises(StorageError, match="closed"):
        list(it)
    with pytest.raises(StorageError):
        spilled.commit()
    reopened = PebbleDB(tmp_path / "db")
    try:
        assert reopened.scan() == [(b"a", b"1"), (b"b", b"2")]
    finally:
        reopened.close()


def test_abandoned_iterators_are_released(pebble_db):
    pebble_db.write_many([(b"k%d" % i, b"v") for i in range(10)])
    for _ in range(50):
        it = pebble_db.iterate()
        next(it)
        it.close()
        next(pebble_db.iterate())  # dropped unfinished: collected, then released
    pebble_db.close()  # Pebble would report leaked iterators here


def test_checkpoint_is_an_independent_db(pebble_db, tmp_path):
    pebble_db.write_many([(b"k%03d" % i, b"v%d" % i) for i in range(100)])
    pebble_db.checkpoint(tmp_path / "snap")
    pebble_db.delete_range(b"k000", b"k100")
    snap = open_storage("pebble", tmp_path / "snap")
    try:
        assert len(snap.scan()) == 100
        snap.set(b"new", b"x")
        assert pebble_db.get(b"new") is None
    finally:
        snap.close()


def test_flush_and_compact_show_in_metrics(pebble_db):
    for round_ in range(3):
        pebble_db.write_many([(b"k%05d" % i, b"%d" % round_ * 50) for i in range(2000)])
        pebble_db.flush()
    before = pebble_db.metrics()
    assert before["flush_count"] >= 3
    assert before["sstable_count"] >= 1
    pebble_db.compact(b"k", b"l")
    after = pebble_db.metrics()
    assert after["compaction_count"] > before["compaction_count"]
    assert len(after["levels"]) == 7


def test_threads_share_a_db_while_it_closes(tmp_path):
    db = PebbleDB(tmp_path / "db")
    db.write_many([(b"k%03d" % i, b"v" * 100) for i in range(200)])
    errors: list[BaseException] = []
    stop = time.monotonic() + 0.5

    def worker(i):
        try:
            while time.monotonic() < stop:
                db.set(b"w%d" % i, b"x", sync=False)
                db.get(b"k007")
                db.scan(limit=20)
        except StorageError as e:
            if "closed" not in str(e):
                errors.append(e)
        except BaseException as e:  # anything else is a binding bug
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    db.close()  # racing with the workers must give clean errors, not a crash
    for t in threads:
        t.join(5)
    assert not errors


def test_synced_commit_in_a_thread_lets_the_loop_run(pebble_db):
    async def main():
        store = AsyncStorage(pebble_db)
        ticks = 0
        done = False

        async def ticker():
            nonlocal ticks
            while not done:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        per_commit = []
        for n in range(30):
            b = pebble_db.batch()
            for i in range(100):
                b.set(b"b%03d-%03d" % (n, i), b"v" * 100)
            before = ticks
            await store.commit(b, sync=True)
            per_commit.append(ticks - before)  # loop iterations while the fsync was in flight
        done = True
        await task
        assert await store.get(b"b029-099") == b"v" * 100
        assert len(await store.scan(prefix=b"b000")) == 100
        await store.close()
        return sorted(per_commit)[len(per_commit) // 2]

    # Were the GIL held during the call, the loop would get about one iteration
    # per commit (at the hand-offs); released, it spins many times per fsync.
    assert asyncio.run(main()) >= 3


def test_use_after_fork_is_refused(pebble_db, tmp_path):
    # The Go runtime's threads do not exist in a forked child: refuse cleanly.
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            PebbleDB(tmp_path / "child")
            os.write(write_end, b"opened")
        except Exception as e:
            os.write(write_end, str(e).encode()[:500])
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        message = os.read(read_end, 1000).decode()
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    assert "spawn" in message
