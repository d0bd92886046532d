"""The leader's view of one follower: how far it matches and how to send to it.

PROBE: one append in flight until the follower answers (we do not know its
match); REPLICATE: optimistic pipelining, bounded by `Inflights`; SNAPSHOT:
nothing is sent until the node reports the snapshot transfer's outcome.
"""
from __future__ import annotations

from collections import deque
from enum import IntEnum


class ProgressState(IntEnum):
    PROBE = 0
    REPLICATE = 1
    SNAPSHOT = 2


PROBE, REPLICATE, SNAPSHOT = ProgressState.PROBE, ProgressState.REPLICATE, ProgressState.SNAPSHOT


class Inflights:
    """Last indexes of the appends sent but not yet acknowledged, oldest first."""

    __slots__ = ("cap", "q")

    def __init__(self, cap: int):
        self.cap = cap
        self.q: deque[int] = deque()

    def add(self, last_index: int) -> None:
        assert len(self.q) < self.cap, f"inflights overflow: {len(self.q)} >= {self.cap}"
        self.q.append(last_index)

    def free_le(self, index: int) -> None:
        q = self.q
        while q and q[0] <= index:
            q.popleft()

    def free_first_one(self) -> None:
        if self.q:
            self.q.popleft()

    def full(self) -> bool:
        return len(self.q) >= self.cap

    def reset(self) -> None:
        self.q.clear()

    def __len__(self) -> int:
        return len(self.q)


class Progress:
    __slots__ = (
        "match", "next", "state", "pending_snapshot", "recent_active",
        "probe_sent", "inflights", "is_learner",
    )

    def __init__(self, next_index: int, max_inflight: int, is_learner: bool = False):
        self.match = 0
        self.next = next_index
        self.state = PROBE
        self.pending_snapshot = 0
        self.recent_active = False
        self.probe_sent = False
        self.inflights = Inflights(max_inflight)
        self.is_learner = is_learner

    def _reset_state(self, state: ProgressState) -> None:
        self.probe_sent = False
        self.pending_snapshot = 0
        self.state = state
        self.inflights.reset()

    def become_probe(self) -> None:
        if self.state == SNAPSHOT:
            pending = self.pending_snapshot
            self._reset_state(PROBE)
            self.next = max(self.match + 1, pending + 1)
        else:
            self._reset_state(PROBE)
            self.next = self.match + 1

    def become_replicate(self) -> None:
        self._reset_state(REPLICATE)
        self.next = self.match + 1

    def become_snapshot(self, snapshot_index: int) -> None:
        self._reset_state(SNAPSHOT)
        self.pending_snapshot = snapshot_index

    def maybe_update(self, n: int) -> bool:
        """The follower acknowledged up to n; False if that is old news."""
        updated = False
        if self.match < n:
            self.match = n
            updated = True
            self.probe_sent = False
        if self.next < n + 1:
            self.next = n + 1
        return updated

    def maybe_decr_to(self, rejected: int, match_hint: int) -> bool:
        """The append after `rejected` was refused; False if the refusal is stale."""
        if self.state == REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, match_hint + 1), 1)
        self.probe_sent = False
        return True

    def sent_entries(self, last_index: int) -> None:
        if self.state == REPLICATE:
            self.next = last_index + 1
            self.inflights.add(last_index)
        elif self.state == PROBE:
            self.probe_sent = True
        else:
            raise AssertionError(f"sending entries to a follower in state {self.state.name}")

    def is_paused(self) -> bool:
        s = self.state
        if s == PROBE:
            return self.probe_sent
        if s == REPLICATE:
            return self.inflights.full()
        return True

    def as_dict(self) -> dict:
        return {
            "match": self.match, "next": self.next, "state": self.state.name.lower(),
            "recent_active": self.recent_active, "inflight": len(self.inflights),
            "pending_snapshot": self.pending_snapshot, "learner": self.is_learner,
        }
