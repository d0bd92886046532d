"""The store's client API: the single-group node's routes, plus Regions.

- `GET /regions` -> JSON list of {id, start, end, epoch {conf_ver, version}, peers, leader, leader_address}.
- `/kv/<key>` requests may name the Region they mean as query parameters
  `?region_id=ID&epoch=CONF_VER.VERSION`; a stale epoch, or a key outside that
  Region, gets 409 `{"error": "epoch_not_match", "regions": [...]}` (nothing applied).
"""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from reference_kv.errors import BadRequest
from reference_kv.regions.region import Epoch
from reference_kv.server import Server


class RegionServer(Server):
    def _where(self, url) -> dict:
        q = parse_qs(url.query)
        try:
            rid = int(q["region_id"][0]) if "region_id" in q else None
            epoch = Epoch.parse(q["epoch"][0]) if "epoch" in q else None
        except ValueError as e:
            raise BadRequest(f"bad region_id or epoch: {e}") from None
        return {"region_id": rid, "epoch": epoch}

    async def _route(self, method: str, target: str, body: bytes):
        url = urlsplit(target)
        if url.path == "/regions" and method == "GET":
            return 200, self.node.regions(), "application/json"
        return await super()._route(method, target, body)
