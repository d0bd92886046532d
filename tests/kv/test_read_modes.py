"""Read modes: one owner of the names (reference_kv.readmodes), a request gets the mode it asks for or
a clear refusal, never another mode counted under its name (issue #19's first bullet, #22 item 2)."""
from __future__ import annotations

import pytest

from reference_kv import readmodes
from reference_kv.errors import BadRequest
from reference_kv.sim import run
from reference_kv.sim.cluster import SimCluster

pytestmark = pytest.mark.unit


def test_the_names_have_one_owner():
    from reference_kv import server
    from reference_kv.__main__ import build_parser
    assert server.READ_MODES is readmodes.READ_MODES
    action = next(a for a in build_parser()._actions if a.dest == "read_mode")
    assert tuple(action.choices) == readmodes.READ_MODES and action.default == readmodes.DEFAULT


@pytest.mark.parametrize("node_mode", ["readindex", "lease"])
def test_a_request_gets_the_read_mode_it_asks_for(tmp_path, node_mode):
    """On a readindex node ?read=lease is answered from the lease (no heartbeat round); on a lease node
    ?read=readindex takes a round. Each is counted under the mode it was served in."""
    async def main():
        c = SimCluster(tmp_path, 3, seed=31, read_mode=node_mode)
        lead = await c.start_all()
        n = c.nodes[lead]
        await n.write("p", "k", b"1", None, None)
        rounds = n.raw.raft.rounds
        assert await n.read("k", "readindex") == b"1"  # a round: the lease is fresh after it
        r0 = rounds.next_round
        assert await n.read("k", "lease") == b"1"
        assert rounds.next_round == r0, "a lease read took a heartbeat round"
        assert await n.read("k", "readindex") == b"1"
        assert rounds.next_round == r0 + 1, "a readindex read was answered without a round"
        assert n.metrics.reads == {"readindex": 2, "lease": 1}
        assert await n.read("k") == b"1"  # no ?read=: the node's own mode
        assert n.metrics.reads[node_mode] == (3 if node_mode == "readindex" else 2)
        with pytest.raises(BadRequest, match="UNSAFE"):
            await n.read("k", "local-unsafe")
        with pytest.raises(BadRequest, match="unknown read mode"):
            await n.read("k", "sometimes")
        await c.close()
    run(main())


def test_an_unsafe_node_answers_local_unsafe_reads(tmp_path):
    async def main():
        c = SimCluster(tmp_path, 3, seed=32, read_mode="local-unsafe")
        lead = await c.start_all()
        await c.nodes[lead].write("p", "k", b"1", None, None)
        assert await c.nodes[lead].read("k", "local-unsafe") == b"1"
        assert await c.nodes[lead].read("k", "readindex") == b"1"
        await c.close()
    run(main())
