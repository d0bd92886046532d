"""The KV's own errors: what a replica tells its callers. `server.py` alone maps them to HTTP.

Each says what the client may conclude: NotLeader and Refused mean the request took no effect
(ask the leader named, or do not ask again as it is); Timeout means the outcome is unknown (a write
may still apply: retry with the same request id).
"""
from __future__ import annotations


class KVError(Exception):
    pass


class NotLeader(KVError):
    """This replica cannot serve the request; `leader` is the one it knows (0: none), `address` its client API."""

    def __init__(self, leader: int = 0, address: str | None = None):
        super().__init__(f"not the leader (leader is {leader or 'unknown'})")
        self.leader = leader
        self.address = address


class Timeout(KVError):
    """No answer in time: the request may or may not take effect."""

    def __init__(self, detail: str = "timeout"):
        super().__init__(detail)
        self.detail = detail


class Refused(KVError):
    """The request was refused and took no effect (a membership change that makes no sense now, ...)."""


class BadRequest(KVError):
    """The request cannot mean anything here (an unknown read mode, a mode this node does not serve)."""


class EpochNotMatch(KVError):
    """Regions: the key is not where the request said (stale epoch, split or merge); `regions` is the layout now."""

    def __init__(self, regions: list):
        super().__init__("epoch_not_match")
        self.regions = regions
