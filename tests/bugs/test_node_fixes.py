"""The two fixes the Raft core's author asked the node for."""
from __future__ import annotations

import pytest

from reference_kv.raft.confchange import encode_conf_change
from reference_kv.raft.types import ConfChange, ConfChangeType, ConfState, Entry, EntryType, HardState
from reference_kv.statemachine import StateMachine, next_conf
from reference_kv.storage.memory import MemoryStorage


@pytest.mark.unit
def test_next_conf_starts_from_the_base_the_leader_stamped():
    base = ConfState((1, 2, 3), (4,))
    cc = ConfChange(ConfChangeType.PROMOTE, 4, b"", base)
    assert next_conf(ConfState(), cc) == ConfState((1, 2, 3, 4), ())
    # without a base (an old entry), the node's own configuration is the start
    assert next_conf(ConfState((1,), ()), ConfChange(ConfChangeType.ADD_LEARNER, 2)) == ConfState((1,), (2,))


@pytest.mark.unit
def test_joined_node_reloads_the_voters_it_learned():
    db = MemoryStorage()
    sm = StateMachine(db)
    sm.load()  # a joining node: no configuration at all
    entries = [
        Entry(2, 5, EntryType.CONF_CHANGE,
              encode_conf_change(ConfChange(ConfChangeType.ADD_LEARNER, 4, b"", ConfState((1, 2, 3), ())))),
        Entry(2, 6, EntryType.CONF_CHANGE,
              encode_conf_change(ConfChange(ConfChangeType.PROMOTE, 4, b"", ConfState((1, 2, 3), (4,))))),
    ]
    sm.persist_and_apply(entries, HardState(2, 0, 6), entries, True)
    assert StateMachine(db).load().conf_state == ConfState((1, 2, 3, 4), ())


@pytest.mark.integration
def test_joined_node_knows_the_voters_after_a_restart(tmp_path):
    from kv.harness import Cluster

    from reference_kv.client import Client

    c = Cluster(tmp_path, 3)
    try:
        c.start_all()
        new = c.add_node()
        leader = c.wait_leader()
        code, body = c.admin_at(leader, "POST", "/admin/members",
                                {"id": new, "peer_address": c.peer[new], "address": c.client[new]})
        assert code == 200, body
        c.wait(lambda: (c.status(new) or {}).get("role") == "learner", what="learner")
        assert c.admin_at(leader, "POST", f"/admin/members/{new}/promote")[0] == 200
        c.wait(lambda: (c.status(new) or {}).get("role") == "follower", what="promotion")
        c.kill(new)
        c.start(new, join=True)
        # Knowing only itself it would elect itself; knowing the voters it follows and can lead them.
        c.wait(lambda: (c.status(new) or {}).get("leader") == leader, what="restarted node follows the leader")
        code, body = c.admin_at(leader, "POST", "/admin/transfer-leader", {"to": new}, timeout=5)
        assert code == 200, body
        with Client([c.client[new]], timeout=5) as cl:
            cl.put("after-restart", 1)  # committed by a majority of the four voters
            assert cl.get("after-restart") == 1
    finally:
        c.stop_all()
