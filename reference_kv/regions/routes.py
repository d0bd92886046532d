"""A client's route cache: key -> Region (id, epoch) -> leader address.

Fed by `GET /regions`, by the Region list in a 409 epoch_not_match, and by
what each answer teaches (who answered as leader, who a follower named).
"""
from __future__ import annotations

from reference_kv.regions.region import Region, RegionMap


class RouteCache:
    def __init__(self):
        self.map = RegionMap()
        self.leaders: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.map)

    def learn(self, descriptors) -> None:
        """descriptors: the JSON list of `GET /regions` or of a 409 body; bad entries are skipped."""
        if not isinstance(descriptors, list):
            return
        for d in descriptors:
            try:
                region = Region.from_json(d)
            except (ValueError, AttributeError):
                continue
            if self.map.update(region) and isinstance(d, dict) and d.get("leader_address"):
                self.leaders[region.id] = d["leader_address"]
        live = {r.id for r in self.map}
        for rid in [r for r in self.leaders if r not in live]:
            del self.leaders[rid]

    def lookup(self, key: str) -> tuple[Region | None, str | None]:
        region = self.map.find(key)
        return region, (self.leaders.get(region.id) if region else None)

    def set_leader(self, region_id: int, address: str | None) -> None:
        if address:
            self.leaders[region_id] = address
        else:
            self.leaders.pop(region_id, None)
