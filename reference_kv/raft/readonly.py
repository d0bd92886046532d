"""Leadership confirmation by heartbeat rounds: ReadIndex and the leader lease.

Every heartbeat broadcast is a numbered *round* (carried in Message.index and
echoed back). A read request waits for the first round sent after it; once a
majority of voters acknowledged a round r, every request waiting for a round
<= r is answered with the commit index recorded when it arrived (ReadIndex),
and the leader lease runs from the tick at which round r was sent.
"""
from __future__ import annotations

from collections import deque

from . import quorum


class ReadRequest:
    __slots__ = ("round", "index", "ctx", "frm")

    def __init__(self, rnd: int, index: int, ctx: bytes, frm: int):
        self.round, self.index, self.ctx, self.frm = rnd, index, ctx, frm


class Rounds:
    __slots__ = ("next_round", "sent_at", "acked", "confirmed", "lease_start", "waiting", "want_round")

    def __init__(self) -> None:
        self.next_round = 1
        self.sent_at: dict[int, int] = {}  # round -> tick it was sent
        self.acked: dict[int, int] = {}  # voter -> highest round it acknowledged
        self.confirmed = 0  # highest round a majority acknowledged
        self.lease_start: int | None = None
        self.waiting: deque[ReadRequest] = deque()
        self.want_round = False  # a request waits for a round not yet sent

    def add_request(self, index: int, ctx: bytes, frm: int) -> None:
        self.waiting.append(ReadRequest(self.next_round, index, ctx, frm))
        self.want_round = True

    def start_round(self, now: int) -> int:
        r = self.next_round
        self.next_round = r + 1
        self.sent_at[r] = now
        self.want_round = False
        return r

    def ack(self, voter: int, rnd: int) -> None:
        if rnd > self.acked.get(voter, 0):
            self.acked[voter] = rnd

    def confirm(self, self_id: int, voters) -> list[ReadRequest]:
        """Advance the confirmed round; return the requests it answers."""
        latest = self.next_round - 1
        acked = self.acked
        q = quorum.committed_index(voters, lambda v: latest if v == self_id else acked.get(v, 0))
        if q <= self.confirmed or q > latest:
            return []
        self.confirmed = q
        self.lease_start = self.sent_at[q]
        for r in [r for r in self.sent_at if r <= q]:
            del self.sent_at[r]
        done = []
        w = self.waiting
        while w and w[0].round <= q:
            done.append(w.popleft())
        return done

    def lease_valid(self, now: int, lease_ticks: int) -> bool:
        return self.lease_start is not None and now < self.lease_start + lease_ticks
