"""The Raft log: a snapshot point, then entries; a prefix is stable (persisted).

One Python list holds every entry after the snapshot; `stabled` marks how far
the node has persisted it, so handing out unstable entries is a slice, not a
copy of the log. `ents[k].index == snap_index + 1 + k` always holds.
"""
from __future__ import annotations

from bisect import bisect_right

from .errors import ErrCompacted, ErrUnavailable
from .types import ConfState, Entry, SnapshotMeta


def _term_key(e: Entry) -> int:
    return e.term


class RaftLog:
    __slots__ = (
        "snap_index", "snap_term", "snap_conf", "ents", "committed", "applied",
        "stabled", "pending_snapshot",
    )

    def __init__(self, snapshot: SnapshotMeta | None = None, entries=(), applied: int = 0):
        snap = snapshot or SnapshotMeta()
        self.snap_index = snap.index
        self.snap_term = snap.term
        self.snap_conf = snap.conf
        self.ents: list[Entry] = list(entries)
        for k, e in enumerate(self.ents):
            if e.index != snap.index + 1 + k:
                raise AssertionError(
                    f"persisted entries not contiguous after snapshot {snap.index}: "
                    f"position {k} holds index {e.index}")
        self.committed = snap.index
        self.applied = max(applied, snap.index)
        self.stabled = self.last_index()
        # A snapshot received from the leader, not yet installed by the node.
        self.pending_snapshot: SnapshotMeta | None = None

    # --- lookups -----------------------------------------------------------
    def first_index(self) -> int:
        return self.snap_index + 1

    def last_index(self) -> int:
        return self.snap_index + len(self.ents)

    def last_term(self) -> int:
        return self.ents[-1].term if self.ents else self.snap_term

    def term(self, i: int) -> int:
        """Term of entry i; raises ErrCompacted / ErrUnavailable outside the log."""
        off = i - self.snap_index
        if off == 0:
            return self.snap_term
        if off < 0:
            raise ErrCompacted(f"index {i} is compacted (snapshot at {self.snap_index})")
        if off > len(self.ents):
            raise ErrUnavailable(f"index {i} is beyond the last index {self.last_index()}")
        return self.ents[off - 1].term

    def term_or_none(self, i: int) -> int | None:
        off = i - self.snap_index
        if off == 0:
            return self.snap_term
        if off < 0 or off > len(self.ents):
            return None
        return self.ents[off - 1].term

    def match_term(self, i: int, term: int) -> bool:
        return self.term_or_none(i) == term

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        lt = self.last_term()
        return last_term > lt or (last_term == lt and last_index >= self.last_index())

    def entries_from(self, lo: int, max_bytes: int, max_count: int) -> list[Entry]:
        """Entries from lo on, at least one if any, at most max_bytes of data."""
        if lo <= self.snap_index:
            raise ErrCompacted(f"index {lo} is compacted (snapshot at {self.snap_index})")
        start = lo - self.snap_index - 1
        ents = self.ents
        end = min(len(ents), start + max_count)
        size = 0
        k = start
        while k < end:
            size += len(ents[k].data) + 16
            if size > max_bytes and k > start:
                break
            k += 1
        return ents[start:k]

    def slice(self, lo: int, hi: int) -> list[Entry]:
        """Entries [lo, hi)."""
        if lo <= self.snap_index:
            raise ErrCompacted(f"index {lo} is compacted (snapshot at {self.snap_index})")
        if hi > self.last_index() + 1:
            raise ErrUnavailable(f"index {hi - 1} is beyond the last index {self.last_index()}")
        base = self.snap_index + 1
        return self.ents[lo - base:hi - base]

    def find_conflict(self, ents) -> int:
        """Index of the first entry of ents that disagrees with the log (0: none)."""
        for e in ents:
            if self.term_or_none(e.index) != e.term:
                return e.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> int:
        """Largest j <= index whose term is <= term (terms never decrease along the log)."""
        if index <= self.snap_index:
            return index
        hi = min(index, self.last_index()) - self.snap_index
        pos = bisect_right(self.ents, term, 0, hi, key=_term_key)
        return self.snap_index + pos

    # --- changes -----------------------------------------------------------
    def append(self, ents) -> int:
        """Append ents, dropping any suffix they overwrite; returns the last index."""
        if not ents:
            return self.last_index()
        after = ents[0].index - 1
        if after < self.committed:
            raise AssertionError(
                f"truncating committed entries: append after {after}, committed {self.committed}")
        if after < self.snap_index:
            raise AssertionError(f"append after {after} below snapshot {self.snap_index}")
        keep = after - self.snap_index
        if keep < len(self.ents):
            del self.ents[keep:]
            if self.stabled > after:
                self.stabled = after
        elif keep > len(self.ents):
            raise AssertionError(f"gap: append after {after}, last index {self.last_index()}")
        self.ents.extend(ents)
        return self.last_index()

    def maybe_append(self, index: int, log_term: int, committed: int, ents) -> int | None:
        """Follower side of AppendEntries; None when the log does not match at index."""
        if self.term_or_none(index) != log_term:
            return None
        last_new = index + len(ents)
        ci = self.find_conflict(ents)
        if ci:
            if ci <= self.committed:
                raise AssertionError(
                    f"entry {ci} conflicts with committed entry (committed {self.committed})")
            self.append(ents[ci - index - 1:])
        self.commit_to(min(committed, last_new))
        return last_new

    def commit_to(self, c: int) -> None:
        if c > self.committed:
            if c > self.last_index():
                raise AssertionError(
                    f"commit {c} beyond last index {self.last_index()} (log lost or corrupt?)")
            self.committed = c

    def applied_to(self, i: int) -> None:
        if i == 0:
            return
        if i > self.committed or i < self.applied:
            raise AssertionError(f"applied {i} outside [{self.applied}, committed {self.committed}]")
        self.applied = i

    def stable_to(self, i: int, term: int) -> None:
        # Entries may have been replaced while the node persisted them; only
        # the ones still in the log with the same term become stable.
        if i > self.stabled and self.term_or_none(i) == term:
            self.stabled = i

    def unstable_entries(self) -> list[Entry]:
        k = self.stabled - self.snap_index
        if k >= len(self.ents):
            return []
        return self.ents[k:]

    def has_next_committed(self, applying: int) -> bool:
        return self.committed > max(applying, self.snap_index)

    def next_committed(self, applying: int, max_count: int) -> list[Entry]:
        lo = max(applying, self.snap_index) + 1
        hi = min(self.committed, lo + max_count - 1)
        if hi < lo:
            return []
        base = self.snap_index + 1
        return self.ents[lo - base:hi - base + 1]

    def compact(self, index: int, term: int, conf: ConfState) -> None:
        """Forget entries <= index: the node holds a snapshot there."""
        if index <= self.snap_index:
            return
        if index > self.committed:
            raise AssertionError(f"compact({index}) beyond committed {self.committed}")
        del self.ents[:index - self.snap_index]
        self.snap_index, self.snap_term, self.snap_conf = index, term, conf
        # The node applied (so persisted) up to index, maybe before advance()
        # told us: those entries are stable.
        if self.stabled < index:
            self.stabled = index

    def restore(self, snap: SnapshotMeta) -> None:
        """Throw the log away for a snapshot received from the leader."""
        self.ents = []
        self.snap_index, self.snap_term, self.snap_conf = snap.index, snap.term, snap.conf
        self.committed = snap.index
        self.stabled = snap.index
        self.pending_snapshot = snap

    def snapshot_meta(self) -> SnapshotMeta:
        return SnapshotMeta(self.snap_index, self.snap_term, self.snap_conf)
