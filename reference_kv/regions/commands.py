"""The commands a Region's log carries besides client writes, and their apply.

Each is a command letter of the state machine (statemachine.encode_command's `op`), applied on the
storage lane inside the group's batch, and decided from the log alone (epochs, keys, indexes),
never from local state, so every replica applies it alike:

- SPLIT (key, new id, version): the Region keeps [start, key), a new Region takes [key, end), both
  at version + 1 with the parent's configuration and a copy of its sessions.
- PREPARE_MERGE (side, version), in the source's log: from here on the source owns nothing.
- COMMIT_MERGE (source descriptor, [version, prepare index]), in the target's log: the target
  replica first applies its own source replica's log up to the prepare (committed: the commit is
  proposed only once every source replica holds it), then takes the source's range and sessions.
- LOG_GC (index): this replica's log is dropped up to index (the leader picks it; see compaction.py).

The store reads what an apply did from the peer afterwards: `new_regions` (splits), `merged`
(sources absorbed, with what their catch-up applied) and `compactions`.
"""
from __future__ import annotations

from dataclasses import replace

import msgpack

from reference_kv.raft.types import SnapshotMeta, conf_to_wire, entry_from_wire
from reference_kv.regions import layout
from reference_kv.regions.region import Epoch, Region
from reference_kv.statemachine import META_CONF, log_key

SPLIT = "s"
PREPARE_MERGE = "v"
COMMIT_MERGE = "M"
LOG_GC = "g"


def data_ops(store, peer) -> dict:
    """The command letters of a data Region replica -> fn(sm, batch, key, a, b, overlay)."""
    return {SPLIT: lambda sm, b, key, new_id, version, _o: split(peer, sm, b, key, new_id, version),
            PREPARE_MERGE: lambda sm, b, key, side, version, _o: prepare_merge(peer, sm, b, side, version),
            COMMIT_MERGE: lambda sm, b, key, desc, arg, _o: commit_merge(store, peer, sm, b, desc, arg),
            LOG_GC: lambda sm, b, key, index, _a, _o: log_gc(peer, sm, b, index)}


def meta_ops(peer) -> dict:
    return {LOG_GC: lambda sm, b, key, index, _a, _o: log_gc(peer, sm, b, index)}


def split(peer, sm, b, key, new_id, version):
    region = peer.region
    if version != region.epoch.version or not region.inside(key):
        return False
    left, right = region.split(key, new_id)
    b.set(layout.local_region_key(left.id), left.pack())
    b.set(layout.local_region_key(right.id), right.pack())
    b.set(layout.group_prefix(right.id) + META_CONF, msgpack.packb(conf_to_wire(sm.conf), use_bin_type=True))
    for cid, results in sm.sessions().items():
        b.set(layout.session_key(right.id, cid), msgpack.packb(results, use_bin_type=True))
    peer.region = left
    peer.new_regions.append(right)
    return True


def prepare_merge(peer, sm, b, side, version):
    region = peer.region
    if peer.merging is not None or version != region.epoch.version or side not in ("left", "right"):
        return False
    region = replace(region, epoch=Epoch(region.epoch.conf_ver, region.epoch.version + 1))
    b.set(layout.local_region_key(region.id), region.pack())
    b.set(layout.merging_key(region.id), msgpack.packb([side, sm.applied], use_bin_type=True))
    peer.region, peer.merging = region, (side, sm.applied)
    return sm.applied


def commit_merge(store, peer, sm, b, source_desc, arg):
    version, index = arg
    region, source = peer.region, Region.from_json(source_desc)
    src = store.peers.get(source.id)
    if version != region.epoch.version or src is None:
        return False  # the target changed since (or the source is gone): the driver asks again
    # The source's own log up to its prepare first: a replica that has not applied the prepare yet
    # (behind, or restarted with the apply unsynced) must decide as those that have (it skipped the
    # merge its peers made, and the Region's replicas held different ranges at one index).
    caught_up = _catch_up(store, src, index, b)
    if src.merging is None or source.side_of(region) != src.merging[0] or region.peers != source.peers:
        return False
    if src.merging[1] != index or src.region != source or src.sm.applied < index:
        # Every replica must decide alike; a source replica behind its own prepare would diverge.
        raise RuntimeError(f"region {peer.id}: merge of {source.id} at {index} but the local source is "
                           f"at {src.sm.applied} ({src.region}, {src.merging})")
    merged = region.merge(source)
    b.set(layout.local_region_key(merged.id), merged.pack())
    b.delete(layout.local_region_key(source.id))
    b.delete(layout.merging_key(source.id))
    sm.absorb_sessions(b, src.sm.sessions())
    peer.region = merged
    peer.merged.append((source.id, caught_up))
    return True


def _catch_up(store, src, index: int, b):
    """The source replica's own log up to its prepare, applied into this batch; -> what it produced
    (its waiting clients are answered with it), None when it had applied that far already."""
    sm = src.sm
    if sm.applied >= index:
        return None
    prefix = layout.group_prefix(src.id)
    entries = [entry_from_wire(msgpack.unpackb(v, raw=False))
               for _, v in store.db.iterate(prefix + log_key(sm.applied + 1), prefix + log_key(index + 1))]
    return sm.apply(b, entries)


def log_gc(peer, sm, b, index):
    """Local: drop this replica's log up to index; the result changes no state."""
    term = sm.entry_term(index) if peer.compacted < index <= sm.applied else None
    if term is None:
        return False
    snap = SnapshotMeta(index, term, sm.conf)
    sm.compact_log(b, snap)
    peer.compacted = index
    peer.compactions.append(snap)
    return True
