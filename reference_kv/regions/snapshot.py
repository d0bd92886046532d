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

import asyncio
import logging
import shutil
from dataclasses import replace
from pathlib import Path

import msgpack

from reference_kv.raft.types import HardState, Message, MsgType, Role, SnapshotMeta, conf_to_wire, snap_to_wire
from reference_kv.regions import layout
from reference_kv.regions.region import Region
from reference_kv.snapshot_transfer import FRAME_LIMITS as TRANSFER_FRAME_LIMITS, SnapshotTransfer
from reference_kv.statemachine import LOG, META_APPLIED, META_CONF, META_HARD, META_SNAP, SESSION, Applied

log = logging.getLogger("reference_kv.regions")

FILE = "region.snap"
REGION_SNAP = 17  # [region_id, snapshot_transfer kind, payload]
WANT_SNAP = 18  # [region_id, node]: an empty replica asks the leader for a snapshot
FRAME_LIMITS = {REGION_SNAP: max(TRANSFER_FRAME_LIMITS.values()) + 64, WANT_SNAP: 64}
WANT_EVERY_S = 1.0


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


class RegionSnapshots:
    """A store's Region snapshots on the wire: asked for by empty replicas, built and streamed by leaders
    (snapshot_transfer, frames tagged with the Region id), installed when their SNAP message applies."""

    def __init__(self, store):
        self.store = store
        self._transfers: dict[int, SnapshotTransfer] = {}
        self._sending: set[tuple[int, int]] = set()
        self.sent = 0
        self.installed = 0

    def _transfer(self, rid: int) -> SnapshotTransfer:
        t = self._transfers.get(rid)
        if t is None:
            s = self.store
            t = self._transfers[rid] = SnapshotTransfer(
                s.id, Path(s.cfg.data_dir) / "incoming" / str(rid),
                lambda to, kind, payload: s.transport.send(to, REGION_SNAP, [rid, kind, payload]),
                lambda name: name == FILE, run=s.scan)
        return t

    # --- frames -------------------------------------------------------------------------------
    def on_frame(self, payload) -> None:
        # The Region id names a directory: only a real id, never a string from the wire.
        if not (isinstance(payload, list) and len(payload) == 3 and type(payload[0]) is int
                and 0 <= payload[0] < 1 << 63):
            log.warning("store %d: region snapshot frame with a bad region id refused", self.store.id)
            return
        rid, kind, inner = payload
        if not self.store.gone(rid):
            self._transfer(rid).on_frame(kind, inner)

    def on_want(self, payload) -> None:
        if not (isinstance(payload, list) and len(payload) == 2 and all(type(x) is int for x in payload)):
            return
        rid, node = payload
        p = self.store.peers.get(rid)
        if p is None or p.uninit or p.role != Role.LEADER:
            return
        pr = (p.raw.status().get("progress") or {}).get(node)
        # Not below what the leader thinks it holds: entries up to there would never be resent.
        if pr is not None and p.sm.applied >= pr["match"]:
            self.start_send(p, Message(MsgType.SNAP, node, self.store.id, p.term))

    @staticmethod
    def wanted(peer, m) -> bool:
        """An empty replica (a stand-in, or one whose log is empty) hearing from a leader whose progress
        for it may be stale (it ignores our rejects below what it thinks we hold): only a snapshot
        pushed by its store gets us going."""
        if m.type not in (MsgType.APP, MsgType.HEARTBEAT):
            return False
        if peer.uninit:
            return True
        return peer.sm.last_index == 0 and (m.index > 0 if m.type == MsgType.APP else m.commit > 0)

    def ask(self, peer, m) -> None:
        now = self.store.clock.now()
        if now - peer.wanted_at >= WANT_EVERY_S:
            peer.wanted_at = now
            self.store.transport.send(m.frm, WANT_SNAP, [peer.id, self.store.id])

    # --- sending --------------------------------------------------------------------------------
    def start_send(self, p, m) -> None:
        if (p.id, m.to) in self._sending:
            return
        self._sending.add((p.id, m.to))
        asyncio.get_running_loop().create_task(self._send(p, m))

    async def _send(self, p, m) -> None:
        s = self.store
        ok = False
        directory = Path(s.cfg.data_dir) / "snapshots" / str(p.id) / str(m.to)
        try:
            def build():
                meta = SnapshotMeta(p.sm.applied, p.sm.applied_term, p.sm.conf)
                dump(s.db, p.id, p.region, p.merging, meta, directory)
                return meta
            meta = await s.io(build)
            ok = await self._transfer(p.id).stream(m.to, meta.index, directory)
            if ok and s.peers.get(p.id) is p:
                # The SNAP names the index of what was sent, not the compaction point the core knew.
                ok = s.send_raft(p.id, replace(m, snapshot=meta))
                self.sent += ok
                log.info("store %d: region %d snapshot at %d sent to node %d", s.id, p.id, meta.index, m.to)
        except Exception:
            log.exception("region %d: snapshot to node %d", p.id, m.to)
        finally:
            self._sending.discard((p.id, m.to))
            await s.scan(shutil.rmtree, directory, True)
            if s.peers.get(p.id) is p:
                p.raw.report_snapshot(m.to, ok)
                s.wake()

    # --- installing ------------------------------------------------------------------------------
    async def install(self, p, meta: SnapshotMeta, hard) -> Region | None:
        """The Ready of p carries a snapshot: replace p's replica by it; -> the Region it describes."""
        s = self.store
        transfer = self._transfer(p.id)
        directory = transfer.ready_dir(meta.index)
        if directory is None:
            raise RuntimeError(f"region {p.id}: snapshot {meta.index} was not received before its SNAP message")

        def run():
            body = load(directory / FILE)
            region = install(s.db, p.id, body, meta, hard)
            transfer.clear()
            return region, body.get("merging")

        region, merging = await s.io(run)
        p.sm.restored(meta)
        p.compacted = meta.index
        p.uninit = False
        if region is not None:
            p.region, p.merging = region, tuple(merging) if merging else None
        p.on_applied(Applied(index=meta.index, term=meta.term))
        self.installed += 1
        log.info("store %d: region %d installed snapshot %d %s", s.id, p.id, meta.index, region or "(meta)")
        return region
