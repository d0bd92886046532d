"""Installing a snapshot replaces the node's store: a crash at any point of it must leave the node
whole, with its own hard state and identity (found reading node._install_snapshot, issue #14).

Real Pebble under the simulated world: its store is its directory, which the install renames."""
from __future__ import annotations

from pathlib import Path

import pytest

from reference_kv.sim import run
from reference_kv.sim.cluster import SimCluster

pytestmark = pytest.mark.unit


class CrashingPebble:
    """Opens Pebble; the next open of a path in `fail` raises, as if the process died there."""

    def __init__(self):
        self.fail: set[Path] = set()

    def __call__(self, path, from_checkpoint=False):
        from reference_kv.storage.pebble import PebbleDB
        if Path(path) in self.fail:
            self.fail.discard(Path(path))
            raise OSError(f"simulated crash opening {path}")
        return PebbleDB(str(path))


def test_a_crash_while_installing_a_snapshot_leaves_the_node_whole(tmp_path):
    async def main():
        opener = CrashingPebble()
        c = SimCluster(tmp_path, 3, seed=21, snapshot_every=10, opener=opener)
        lead = await c.start_all()
        f = next(i for i in c.ids if i != lead)
        await c.stop(f)
        for k in range(60):  # compacted past what f holds: it needs a snapshot
            await c.nodes[lead].write("p", f"k{k}", b"1", None, None)
        for _ in range(3):  # a few elections: f's term to come is above the leader's checkpoint's
            old = c.nodes[lead]
            to = next(i for i in c.nodes if i != lead)
            await old.transfer_leader(to)
            lead = await c.wait_leader()
        n = await c.start(f)
        opener.fail.add(c.data_dir(f) / "db")  # the install's open of the swapped-in store dies
        await c.wait(lambda: f not in c.nodes, what="the crash during the install")
        assert c.fatal and c.fatal[-1][0] == f, c.fatal
        c.fatal.clear()
        term = n.term
        n = await c.start(f)  # must come back as itself, without going back on its term
        assert n.term >= term, (n.term, term)
        await c.wait(lambda: n.applied >= c.nodes[lead].applied, what="catch-up after the interrupted install")
        assert await n.read("k59", "follower") == b"1"
        assert not c.failures, c.failures
        await c.close()
    run(main())
