"""Snapshot frames come from the network: no name, index or Region id in them may reach outside the data directory.

The pure tests drive the receiver directly; the integration tests send the raw
frames of the issue (4-byte length + msgpack [kind, payload]) to the peer port
of a real node and of a real Region store, as an attacker on the network would.
"""
from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from reference_kv.snapshot_transfer import ACK, CHUNK, OFFER, SnapshotTransfer, manifest_of
from reference_kv.storage.base import is_checkpoint_file
from reference_kv.transport import encode_frame, split_hostport

def _outside_state(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))}


def _plant(tmp_path: Path) -> tuple[Path, Path]:
    """A data directory and, beside it, files and a directory that must survive anything a peer sends."""
    data = tmp_path / "data"
    (data / "incoming").mkdir(parents=True)
    victim = tmp_path / "victim"
    (victim / "inner").mkdir(parents=True)
    (victim / "keep.txt").write_bytes(b"keep")
    (victim / "inner" / "deep.txt").write_bytes(b"deep")
    return data, victim


HOSTILE_OFFERS = [
    [2, 7, [["../../victim/evil", 4]]],
    [2, 7, [["../evil", 4]]],
    [2, 7, [["/tmp/splitbrain-evil-absolute", 4]]],
    [2, 7, [["sub/000001.sst", 4]]],
    [2, 7, [["..", 4]]],
    [2, 7, [["000001.sst", -1]]],
    [2, 7, [["000001.sst", 4], ["000001.sst", 4]]],
    [2, "../../victim", [["000001.sst", 4]]],
    [2, "../../victim/inner", []],
    [2, -3, [["000001.sst", 4]]],
    [2, 7.5, [["000001.sst", 4]]],
    [2, 7, "not a manifest"],
    [2, 7],
]


@pytest.mark.unit
@pytest.mark.parametrize("offer", HOSTILE_OFFERS, ids=range(len(HOSTILE_OFFERS)))
def test_hostile_offer_then_chunk_touches_nothing_outside(tmp_path, offer):
    data, victim = _plant(tmp_path)
    before = _outside_state(tmp_path / "victim")
    sent = []

    async def main():
        t = SnapshotTransfer(1, data / "incoming", lambda to, kind, p: sent.append((to, kind, p)), is_checkpoint_file)
        t.on_frame(OFFER, offer)
        await asyncio.sleep(0.05)
        index = offer[1] if len(offer) > 1 else 7
        t.on_frame(CHUNK, [2, index, 0, b"evil"])
        await asyncio.sleep(0.05)
        return t

    t = asyncio.run(main())
    assert _outside_state(tmp_path / "victim") == before
    assert not Path("/tmp/splitbrain-evil-absolute").exists()
    assert t.frames_refused >= 1
    assert not any(kind == ACK and p[3] for _, kind, p in sent)  # nothing was ever complete
    assert list((data / "incoming").iterdir()) == []


@pytest.mark.unit
def test_hostile_chunk_and_ack_fields_are_refused(tmp_path):
    data, _ = _plant(tmp_path)

    async def main():
        t = SnapshotTransfer(1, data / "incoming", lambda *a: None, is_checkpoint_file)
        for kind, payload in [(CHUNK, [2, "../../victim", 0, b"x"]), (CHUNK, [2, 7, -1, b"x"]),
                              (CHUNK, [2, 7, 0, "not bytes"]), (ACK, [2, "x", 0, True]), (ACK, [2, 7, 0]),
                              ("1", [2, 7, []]), (OFFER, None)]:
            t.on_frame(kind, payload)
        await asyncio.sleep(0.05)
        return t.frames_refused

    assert asyncio.run(main()) == 7


@pytest.mark.unit
def test_a_real_checkpoint_still_streams(tmp_path):
    """The checks refuse what no checkpoint holds, not what Pebble writes."""
    from reference_kv.storage.pebble import PebbleDB

    db = PebbleDB(tmp_path / "db")
    for i in range(3):
        b = db.batch()
        b.set(b"k%d" % i, b"v" * 5000)
        b.commit(sync=True)
        db.flush()
    db.checkpoint(str(tmp_path / "cp"))
    db.close()
    manifest = manifest_of(tmp_path / "cp")
    assert manifest and all(is_checkpoint_file(n) for n, _ in manifest)

    async def main():
        receiver: SnapshotTransfer | None = None
        sender: SnapshotTransfer | None = None

        def to_receiver(to, kind, payload):
            receiver.on_frame(kind, payload)

        def to_sender(to, kind, payload):
            sender.on_frame(kind, payload)

        receiver = SnapshotTransfer(2, tmp_path / "data" / "incoming", to_sender, is_checkpoint_file)
        sender = SnapshotTransfer(1, tmp_path / "sdata" / "incoming", to_receiver, is_checkpoint_file)
        ok = await sender.stream(2, 42, tmp_path / "cp")
        return ok, receiver.ready_dir(42)

    ok, ready = asyncio.run(main())
    assert ok and ready is not None
    assert sorted(p.name for p in ready.iterdir()) == sorted(n for n, _ in manifest)
    for name, _ in manifest:
        assert (ready / name).read_bytes() == (tmp_path / "cp" / name).read_bytes()


def _send_frames(address: str, frames: list[bytes]) -> None:
    host, port = split_hostport(address)
    with socket.create_connection((host, port), timeout=3) as s:
        for f in frames:
            s.sendall(f)
        time.sleep(0.5)


def _attack_frames(wrap) -> list[bytes]:
    out = []
    # Paths as seen from <data>/incoming/<index>.tmp and from <data>/incoming, with <data> = <root>/n1.
    for name, index in [("../../../victim/evil", 9), ("/tmp/splitbrain-evil-absolute", 10), ("000001.sst", "../../victim")]:
        out.append(encode_frame(*wrap(OFFER, [2, index, [[name, 4]]])))
        out.append(encode_frame(*wrap(CHUNK, [2, index, 0, b"evil"])))
    return out


@pytest.mark.integration
def test_node_peer_port_refuses_traversal(make_cluster):
    c = make_cluster(3)
    c.wait(lambda: c.status(1), what="node 1 serving")  # a leader elsewhere does not mean node 1 listens yet
    victim = c.root / "victim"
    (victim / "inner").mkdir(parents=True)
    (victim / "keep.txt").write_bytes(b"keep")
    before = _outside_state(victim)
    _send_frames(c.peer[1], _attack_frames(lambda kind, p: (kind, p)))
    assert _outside_state(victim) == before
    assert not Path("/tmp/splitbrain-evil-absolute").exists()
    assert "refused" in (c.root / "n1.log").read_text()
    assert c.status(1) is not None  # still serving
