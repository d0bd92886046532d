"""The meta group's state: the Region directory and the Region id allocator.

Two command letters on the meta group's state machine (its data lives under
layout.META_DATA, apart from user data):

- `I` alloc: returns the next free Region id and bumps it;
- `R` publish: a = [[descriptor JSON, leader id], ...]; each is kept unless the
  directory already holds a newer epoch of that Region (equal epochs replace,
  which is how a new leader's hint gets in); entries of other Regions it
  overlaps with an older epoch go (a merged source).
"""
from __future__ import annotations

import json

from reference_kv.regions.layout import FIRST_REGION, META_DATA
from reference_kv.regions.region import Region, overlaps

NEXT_ID = "next_id"
_REGION = "region/"


def region_entry_key(region_id: int) -> str:
    return f"{_REGION}{region_id:020d}"


def _get(sm, batch_overlay: dict, key: str):
    dk = sm.data_key(key)
    raw = batch_overlay[dk] if dk in batch_overlay else sm.db.get(dk)
    return None if raw is None else json.loads(raw)


def _alloc(sm, batch, key, a, b, overlay):
    n = _get(sm, overlay, NEXT_ID) or FIRST_REGION + 1
    overlay[sm.data_key(NEXT_ID)] = json.dumps(n + 1).encode()
    return n


def _publish(sm, batch, key, a, b, overlay):
    for desc, leader in a:
        region = Region.from_json(desc)
        k = region_entry_key(region.id)
        old = _get(sm, overlay, k)
        if old is not None and Region.from_json(old["region"]).epoch.key() > region.epoch.key():
            continue
        others = _entries(sm, overlay)
        if any(o.id != region.id and overlaps(o, region) and o.epoch.key() > region.epoch.key() for o in others):
            continue  # a late word from a merged source's replica
        overlay[sm.data_key(k)] = json.dumps({"region": region.to_json(), "leader": leader or None}).encode()
        for other in others:
            if other.id != region.id and overlaps(other, region) and other.epoch.key() < region.epoch.key():
                overlay[sm.data_key(region_entry_key(other.id))] = None
    return True


def _entries(sm, overlay: dict) -> list[Region]:
    lo = sm.data_key(_REGION)
    raw = {k: v for k, v in sm.db.iterate(lo, lo + b"\xff")}
    raw.update((k, v) for k, v in overlay.items() if k.startswith(lo))
    return [Region.from_json(json.loads(v)["region"]) for v in raw.values() if v is not None]


ALLOC_ID, PUBLISH = "I", "R"
META_OPS = {ALLOC_ID: _alloc, PUBLISH: _publish}


def bootstrap_entries(first: Region) -> list[tuple[bytes, bytes]]:
    """The directory every node starts with: the first Region, the next free id."""
    return [(META_DATA + NEXT_ID.encode(), json.dumps(FIRST_REGION + 1).encode()),
            (META_DATA + region_entry_key(first.id).encode(),
             json.dumps({"region": first.to_json(), "leader": None}).encode())]


def directory(db) -> list[tuple[Region, int | None]]:
    """Every Region in this node's copy of the directory, with its last published leader."""
    lo = META_DATA + _REGION.encode()
    out = []
    for _, v in db.iterate(lo, lo + b"\xff"):
        d = json.loads(v)
        out.append((Region.from_json(d["region"]), d.get("leader")))
    return out
