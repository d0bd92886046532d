"""The Region store's peer port: a Region id or file name from the wire never names a path outside the store."""
from __future__ import annotations

from pathlib import Path

import pytest

from kv.test_snapshot_frames import _attack_frames, _outside_state, _send_frames
from reference_kv.snapshot_transfer import OFFER
from reference_kv.transport import encode_frame

REGION_SNAP = 17  # the Region store's frame kind, [region_id, snapshot kind, payload]


@pytest.mark.integration
def test_region_store_peer_port_refuses_traversal(region_cluster):
    c = region_cluster(3)
    c.wait(lambda: c.status(1), what="store 1 serving")  # a leader elsewhere does not mean store 1 listens yet
    victim = c.root / "victim"
    (victim / "inner").mkdir(parents=True)
    (victim / "keep.txt").write_bytes(b"keep")
    before = _outside_state(victim)
    frames = _attack_frames(lambda kind, p: (REGION_SNAP, [1, kind, p]))
    # The Region id names a directory too.
    frames += [encode_frame(REGION_SNAP, ["../../victim", OFFER, [2, 5, [["region.snap", 4]]]]),
               encode_frame(REGION_SNAP, ["../../victim/inner", OFFER, [2, 6, []]])]
    _send_frames(c.peer[1], frames)
    assert _outside_state(victim) == before
    assert "refused" in (c.root / "n1.log").read_text()
    assert c.status(1) is not None
