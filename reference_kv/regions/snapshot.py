"""A Region snapshot: the Region's data range and its sessions at an applied index, one file.

The leader builds it on the storage thread (the only writer, so the range is
read as of exactly `applied`), at its current applied index rather than at
the index its log was compacted to: the follower gets what the leader's disk
holds now, and the log after that index is still on the leader. The file is
streamed with snapshot_transfer (frames tagged with the Region id), then the
Raft SNAP message follows, carrying that index.

Installing is one synced batch: the snapshot's data range is emptied and
written, the group's sessions replaced, the descriptor (and a prepared merge)
recorded, and the group's log, hard state, snapshot mark and applied index
reset to the snapshot; a crash leaves either the old replica or the new.
"""
from __future__ import annotations

from pathlib import Path

import msgpack

from reference_kv.raft.types import HardState, SnapshotMeta, conf_to_wire, snap_to_wire
from reference_kv.regions import layout
from reference_kv.regions.region import Region
from reference_kv.statemachine import LOG, META_APPLIED, META_CONF, META_HARD, META_SNAP, SESSION

FILE = "region.snap"


def _pack(obj) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def bounds(region: Region | None) -> tuple[bytes, bytes]:
    """Storage range of a group's state-machine data: a Region's user keys, or the meta directory."""
    if region is None:
        return layout.META_DATA, bytes([layout.META_DATA[0] + 1])
    return layout.data_bounds(region.start, region.end)


def dump(db, rid: int, region: Region | None, merging, meta: SnapshotMeta, directory: Path) -> Path:
    """Storage thread: write the snapshot of group `rid` at meta.index into directory/FILE."""
    lo, hi = bounds(region)
    sp = layout.group_prefix(rid) + SESSION
    body = {"rid": rid, "region": region.pack() if region is not None else None,
            "merging": list(merging) if merging else None,
            "meta": [meta.index, meta.term, conf_to_wire(meta.conf)],
            "kv": [[k, v] for k, v in db.iterate(lo, hi)],
            "sessions": [[k[len(sp):], v] for k, v in db.iterate(sp, sp + b"\xff")]}
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(_pack(body))
    tmp.rename(path)
    return path


def load(path: Path) -> dict:
    body = msgpack.unpackb(path.read_bytes(), raw=False)
    if not isinstance(body, dict) or not {"rid", "region", "meta", "kv", "sessions"} <= body.keys():
        raise ValueError(f"{path}: not a Region snapshot")
    return body


def install(db, rid: int, body: dict, meta: SnapshotMeta, hard: HardState) -> Region | None:
    """Storage thread: replace group `rid`'s replica by the snapshot; -> its descriptor (None: meta group)."""
    if body["rid"] != rid or body["meta"][0] != meta.index:
        raise ValueError(f"snapshot of group {body['rid']} at {body['meta'][0]} offered as {rid} at {meta.index}")
    region = Region.unpack(body["region"]) if body["region"] is not None else None
    prefix = layout.group_prefix(rid)
    lo, hi = bounds(region)
    b = db.batch()
    b.delete_range(lo, hi)
    for k, v in body["kv"]:
        b.set(k, v)
    sp = prefix + SESSION
    b.delete_range(sp, sp + b"\xff")
    for cid, v in body["sessions"]:
        b.set(sp + cid, v)
    if region is not None:
        b.set(layout.local_region_key(rid), region.pack())
        if body.get("merging"):
            b.set(layout.merging_key(rid), _pack(body["merging"]))
        else:
            b.delete(layout.merging_key(rid))
    b.delete_range(prefix + LOG, prefix + LOG + b"\xff")
    b.set(prefix + META_HARD, _pack([hard.term, hard.vote, max(hard.commit, meta.index)]))
    b.set(prefix + META_SNAP, _pack(snap_to_wire(meta)))
    b.set(prefix + META_CONF, _pack(conf_to_wire(meta.conf)))
    b.set(prefix + META_APPLIED, _pack([meta.index, meta.term]))
    b.commit(sync=True)
    return region
