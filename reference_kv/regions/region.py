"""Region descriptors: which Raft group owns which range of the key space.

A Region owns user keys in [start, end); "" as start is the lowest key and ""
as end means "no upper bound". Keys compare as Python strings, which is the
order of their UTF-8 bytes, the order the store keeps them in.

The epoch tells descriptors of one Region apart in time: `version` grows
with every split (both halves get parent.version + 1), `conf_ver` with every
membership change. Of two descriptors of the same id, the one with the larger
(version, conf_ver) is newer.
"""
from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, field, replace

import msgpack


@dataclass(frozen=True, slots=True)
class Epoch:
    conf_ver: int = 1
    version: int = 1

    def key(self) -> tuple[int, int]:
        return (self.version, self.conf_ver)

    def __str__(self) -> str:
        return f"{self.conf_ver}.{self.version}"

    @classmethod
    def parse(cls, text: str) -> "Epoch":
        """`CONF_VER.VERSION`, the form requests carry (`?epoch=1.3`)."""
        a, sep, b = text.partition(".")
        if not sep or not a.isdigit() or not b.isdigit():
            raise ValueError(f"bad epoch {text!r}: expected CONF_VER.VERSION, e.g. 1.3")
        return cls(int(a), int(b))


@dataclass(frozen=True, slots=True)
class Region:
    id: int
    start: str = ""
    end: str = ""  # "" = unbounded
    epoch: Epoch = field(default_factory=Epoch)
    peers: tuple[int, ...] = ()

    def contains(self, key: str) -> bool:
        return self.start <= key and (self.end == "" or key < self.end)

    def inside(self, key: str) -> bool:
        """key is strictly inside, so splitting there leaves both halves non-empty."""
        return self.start < key and (self.end == "" or key < self.end)

    def split(self, key: str, new_id: int) -> tuple["Region", "Region"]:
        """(left keeps the id, right is new); both at version + 1, same peers."""
        if not self.inside(key):
            raise ValueError(f"split key {key!r} is not inside region {self.id} [{self.start!r}, {self.end!r})")
        ep = Epoch(self.epoch.conf_ver, self.epoch.version + 1)
        return replace(self, end=key, epoch=ep), Region(new_id, key, self.end, ep, self.peers)

    def side_of(self, other: "Region") -> str | None:
        """"right" if other starts where self ends, "left" if other ends where self starts, else None."""
        if self.end != "" and other.start == self.end:
            return "right"
        if other.end != "" and other.end == self.start:
            return "left"
        return None

    def merge(self, source: "Region") -> "Region":
        """self (the target, keeping its id) absorbs the adjacent source; version above both."""
        side = self.side_of(source)
        if side is None:
            raise ValueError(f"regions {self.id} and {source.id} are not adjacent")
        if self.peers != source.peers:
            raise ValueError(f"regions {self.id} and {source.id} have different peers")
        start, end = (self.start, source.end) if side == "right" else (source.start, self.end)
        ep = Epoch(max(self.epoch.conf_ver, source.epoch.conf_ver),
                   max(self.epoch.version, source.epoch.version) + 1)
        return replace(self, start=start, end=end, epoch=ep)

    def to_json(self) -> dict:
        return {"id": self.id, "start": self.start, "end": self.end,
                "epoch": {"conf_ver": self.epoch.conf_ver, "version": self.epoch.version},
                "peers": list(self.peers)}

    @classmethod
    def from_json(cls, d: dict) -> "Region":
        try:
            ep = d.get("epoch") or {}
            return cls(int(d["id"]), str(d.get("start", "")), str(d.get("end", "")),
                       Epoch(int(ep.get("conf_ver", 1)), int(ep.get("version", 1))),
                       tuple(int(p) for p in d.get("peers", ())))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ValueError(f"bad region descriptor {d!r}: {e}") from None

    def pack(self) -> bytes:
        return msgpack.packb([self.id, self.start, self.end, self.epoch.conf_ver, self.epoch.version,
                              list(self.peers)], use_bin_type=True)

    @classmethod
    def unpack(cls, data: bytes) -> "Region":
        rid, start, end, cv, v, peers = msgpack.unpackb(data, raw=False)
        return cls(rid, start, end, Epoch(cv, v), tuple(peers))

    def encode_json(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":"), sort_keys=True).encode()


class RegionMap:
    """Regions sorted by start key; a lookup is one bisect.

    `update` keeps the newer descriptor of an id and drops older ones whose
    range the new one overlaps, so a route cache fed descriptors in any order
    converges on the newest layout.
    """

    def __init__(self, regions=()):
        self._starts: list[str] = []
        self._regions: list[Region] = []
        for r in regions:
            self.update(r)

    def __len__(self) -> int:
        return len(self._regions)

    def __iter__(self):
        return iter(list(self._regions))

    def get(self, region_id: int) -> Region | None:
        for r in self._regions:
            if r.id == region_id:
                return r
        return None

    def find(self, key: str) -> Region | None:
        i = bisect.bisect_right(self._starts, key) - 1
        if i >= 0 and self._regions[i].contains(key):
            return self._regions[i]
        return None

    def update(self, region: Region) -> bool:
        """Insert region unless a newer descriptor of the same id is known; True if it went in."""
        old = self.get(region.id)
        if old is not None and old.epoch.key() > region.epoch.key():
            return False
        for r in list(self._regions):
            if r.id == region.id or overlaps(r, region):
                if r.id != region.id and r.epoch.key() > region.epoch.key():
                    return False  # a newer region already owns part of this range
        keep = [r for r in self._regions if r.id != region.id and not overlaps(r, region)]
        keep.append(region)
        keep.sort(key=lambda r: r.start)
        self._regions = keep
        self._starts = [r.start for r in keep]
        return True

    def remove(self, region_id: int) -> None:
        keep = [r for r in self._regions if r.id != region_id]
        self._regions, self._starts = keep, [r.start for r in keep]


def overlaps(a: Region, b: Region) -> bool:
    a_below_b_end = b.end == "" or a.start < b.end
    b_below_a_end = a.end == "" or b.start < a.end
    return a_below_b_end and b_below_a_end


UNITS = {"": 1, "B": 1, "KIB": 1 << 10, "KB": 1 << 10, "K": 1 << 10, "MIB": 1 << 20, "MB": 1 << 20,
         "M": 1 << 20, "GIB": 1 << 30, "GB": 1 << 30, "G": 1 << 30}


def parse_size(text: str) -> int:
    """`256KiB`, `1MiB`, `64MiB`, `4096` -> bytes (binary units, as Pebble counts)."""
    t = str(text).strip()
    i = len(t)
    while i and not t[i - 1].isdigit():
        i -= 1
    num, unit = t[:i], t[i:].strip().upper()
    if not num.isdigit() or unit not in UNITS or int(num) <= 0:
        raise ValueError(f"bad size {text!r}: expected e.g. 256KiB, 1MiB, 64MiB or a byte count")
    return int(num) * UNITS[unit]
