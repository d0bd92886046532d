"""Three real Region stores: Regions split under writes, most data is deleted, the small Regions merge
back while clients keep reading and writing registers and a store is killed; every acknowledged
write survives and the register history is linearizable."""
from __future__ import annotations

import signal
import time

import pytest

import checker
from reference_kv.client import Client, DefiniteError, IndeterminateError

from .registers import register_workers
from .test_regions_cluster import SPLIT, VALUE, _fill, _metric, _regions

pytestmark = pytest.mark.integration


def test_small_regions_merge_and_keep_every_acknowledged_write(region_cluster):
    c = region_cluster(3, "--region-split-size", SPLIT)
    addresses = c.addresses()
    acked = _fill(addresses, "m", 700, time.monotonic() + 45)
    assert len(acked) >= 650
    split = c.wait(lambda: (r := _regions(c)) and len(r) >= 4 and r, timeout=10, what=">= 4 regions")
    keep = set(acked[::60])
    # Registers spread over the key space, so the Regions holding them merge under traffic.
    registers = [f"m{i:05d}x" for i in range(0, 700, 100)]
    history, stop = [], [time.monotonic() + 60]
    threads = register_workers(addresses, registers, stop, history, n=3, pace=0.01)
    for t in threads:
        t.start()
    try:
        deleted = []
        with Client(addresses, timeout=5) as cl:
            for k in acked:
                if k not in keep:
                    try:
                        cl.delete(k)
                        deleted.append(k)
                    except (DefiniteError, IndeterminateError):
                        pass
        assert len(deleted) >= len(acked) - len(keep) - 20
        # kill -9 a store once merging has begun (maybe between a prepare and its commit): a prepared
        # source is on disk and is driven to its neighbour after the restart.
        c.wait(lambda: _metric(c, 1, "region_merges_total") >= 1, timeout=30, what="a first merge")
        c.kill(2, signal.SIGKILL)
        time.sleep(1.5)
        c.start(2)
        merged = c.wait(lambda: (r := _regions(c)) and len(r) <= len(split) // 2 and r, timeout=40,
                        what=f"fewer Regions than the {len(split)} after the splits")
        time.sleep(2)  # traffic over the merged layout too
    finally:
        stop[0] = 0
        for t in threads:
            t.join(30)
    assert not any(t.is_alive() for t in threads)
    merged.sort(key=lambda r: r["start"])
    assert merged[0]["start"] == "" and merged[-1]["end"] == ""
    assert all(a["end"] == b["start"] for a, b in zip(merged, merged[1:]))
    assert max(r["epoch"]["version"] for r in merged) > max(r["epoch"]["version"] for r in split)
    assert _metric(c, 1, "region_merges_total") >= 2
    with Client(addresses, timeout=5) as cl:
        assert [k for k in keep if cl.get(k) != VALUE] == []
        assert [k for k in deleted[:50] if cl.get(k) is not None] == []
    # Every store dropped its replicas of the merged sources.
    c.wait(lambda: all(c.status(i)["local_regions"] == len(_regions(c)) for i in c.ids), timeout=10,
           what="every store to host exactly the merged Regions")
    oks = sum(1 for e in history if e["type"] == "ok")
    assert oks > 50, f"only {oks} register operations succeeded; logs:\n{c.logs()}"
    result = checker.check(history, model="cas-register", timeout=60)
    assert result.valid is True, (result.valid, c.logs())
