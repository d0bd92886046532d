"""The node's durable state in one key-value store: Raft log, hard state, KV data, sessions.

Everything lives in one Storage (Pebble by default) under one-byte key prefixes, so
a single synced batch can append log entries, record the hard state and apply
committed commands atomically; a Pebble checkpoint of the whole store is the
snapshot. Methods here do blocking storage I/O. The single-group node calls
`persist_and_apply` from two places at once, each touching only its own keys:
its log thread appends entries and the hard state (nothing committed), while
committed entries are applied (data, sessions, applied index) with no entries;
so the in-memory `last_index` and `applied` each have one writer. The Region
store does both for all its groups in one batch on one thread.

Commands are msgpack arrays `[op, proposal_id, request_id, key, a, b]`:
`p` put(a), `d` delete, `c` cas(a -> b), `a` append(a), `r` read (read through the
log). Values are canonical JSON text, so CAS compares JSON values, not Python ones.

Sessions give exactly-once writes: a request id `"client:seq"` that was already
applied returns the stored result instead of applying again, so a client may
retry a write whose outcome it does not know.
"""
from __future__ import annotations

import heapq
import json
import struct
from dataclasses import dataclass, field

import msgpack

from reference_kv.raft.confchange import decode_conf_change
from reference_kv.raft.types import (
    ConfChange, ConfChangeType, ConfState, Entry, EntryType, HardState, SnapshotMeta,
    conf_from_wire, conf_to_wire, entry_from_wire, entry_to_wire, snap_from_wire, snap_to_wire,
)

LOG = b"\x01"  # + index (8 bytes big endian) -> entry
META_HARD = b"\x02hs"
META_CONF = b"\x02cs"
META_APPLIED = b"\x02ap"  # [index, term] of the last applied entry
META_SNAP = b"\x02sn"  # SnapshotMeta of the last snapshot (log is compacted up to it)
MEMBER = b"\x02mb"  # + id (8 bytes) -> [peer_address, client_address] learned through conf changes
SESSION = b"\x03"  # + client id -> {seq: result}
DATA = b"\x04"  # + key (utf-8) -> canonical JSON text

SESSION_WINDOW = 256  # results kept per client; a retry older than that is answered "unknown"
_MAX_INDEX = (1 << 64) - 1


class StaleRequest(Exception):
    """A retried request id so old its result was forgotten: outcome unknown."""


def log_key(index: int) -> bytes:
    return LOG + struct.pack(">Q", index)


def member_key(node_id: int) -> bytes:
    return MEMBER + struct.pack(">Q", node_id)


def canonical(value) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def encode_command(op: str, proposal_id: int, request_id: str | None, key: str, a=None, b=None) -> bytes:
    return msgpack.packb([op, proposal_id, request_id, key, a, b], use_bin_type=True)


def next_conf(conf: ConfState, cc: ConfChange) -> ConfState:
    """The configuration after cc, computed the way the core does, so it is persisted with the apply.

    The leader stamps each change with the configuration it was proposed in
    (`cc.base`): a node that joined knowing no configuration learns the voters
    from it, and so still knows them after a restart.
    """
    if cc.base is not None:
        conf = cc.base
    voters, learners = set(conf.voters), set(conf.learners)
    if cc.type == ConfChangeType.ADD_LEARNER:
        if cc.node_id not in voters:
            learners.add(cc.node_id)
    elif cc.type == ConfChangeType.PROMOTE:
        learners.discard(cc.node_id)
        voters.add(cc.node_id)
    else:
        voters.discard(cc.node_id)
        learners.discard(cc.node_id)
    return ConfState(tuple(sorted(voters)), tuple(sorted(learners)))


class _Window:
    """One client's remembered results with their highest seq, a heap of their seqs and each pair
    packed once, so a write costs O(log n): max() and a scan of SESSION_WINDOW seqs per write, and
    packing the whole session per batch, took about 35 us of each replica's CPU per write. Answers and
    bytes are those of recomputing from `results` (`packed()` == _pack(results))."""

    __slots__ = ("results", "high", "heap", "pairs")

    def __init__(self, results: dict[int, object]):
        self.results = results
        self.heap = list(results)
        heapq.heapify(self.heap)
        self.high = max(results) if results else None
        self.pairs = {seq: _pack(seq) + _pack(result) for seq, result in results.items()}  # in results' order

    def remember(self, seq: int, result) -> None:
        r = self.results
        if seq not in r:
            heapq.heappush(self.heap, seq)
        r[seq] = result
        self.pairs[seq] = _pack(seq) + _pack(result)
        if self.high is None or seq > self.high:
            self.high = seq
        if len(r) > SESSION_WINDOW:
            floor = self.high - SESSION_WINDOW
            h = self.heap
            while h and h[0] <= floor:
                seq = heapq.heappop(h)
                del r[seq]
                del self.pairs[seq]

    def packed(self) -> bytes:
        n = len(self.pairs)
        if n > 0xFFFF:  # past map16 (only a merge's absorb could get here)
            return _pack(self.results)
        head = bytes([0x80 | n]) if n < 16 else b"\xde" + n.to_bytes(2, "big")  # msgpack fixmap / map16
        return head + b"".join(self.pairs.values())


def _pack(obj) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def _unpack(data: bytes):
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


@dataclass
class Applied:
    """What one apply batch produced, handed back to the event loop."""

    results: dict[int, object] = field(default_factory=dict)  # proposal id -> result
    conf_changes: list[tuple[Entry, ConfChange]] = field(default_factory=list)
    index: int = 0
    term: int = 0
    conf: ConfState | None = None


@dataclass
class Loaded:
    hard_state: HardState
    conf_state: ConfState
    snapshot: SnapshotMeta | None
    entries: list[Entry]
    applied: int
    applied_term: int
    members: dict[int, tuple[str, str]]


class EpochNotMatch:
    """Apply result of a command whose key left this group's range (a split applied before it)."""


EPOCH_NOT_MATCH = EpochNotMatch()


class StateMachine:
    """One Raft group's state.

    `prefix` puts this group's log, hard state and sessions under their own
    key space (a Region's id; empty for the single-group node); user data
    stays under the global `data_prefix`, so a Region split moves no data.
    `owns(key)` is checked when a command is applied: a command for a key the
    group no longer owns gets EPOCH_NOT_MATCH and changes nothing.
    `extra_ops` maps further command letters to
    `fn(sm, batch, key, a, b, overlay) -> result` (a Region's split, the meta group).
    """

    def __init__(self, storage, unsafe_bug: str | None = None, prefix: bytes = b"",
                 data_prefix: bytes = DATA, owns=None, extra_ops=None, on_conf=None):
        """on_conf(sm, batch, conf_change): a membership change applies (a Region records its peers)."""
        self.db = storage
        self.on_conf = on_conf
        self.unsafe_bug = unsafe_bug
        self.prefix = prefix
        self.data_prefix = data_prefix
        self.owns = owns
        self.extra_ops = extra_ops or {}
        self._hard, self._conf_key = prefix + META_HARD, prefix + META_CONF
        self._applied_key, self._snap_key = prefix + META_APPLIED, prefix + META_SNAP
        self._member, self._session_prefix = prefix + MEMBER, prefix + SESSION
        self.last_index = 0
        self.applied = 0
        self.applied_term = 0
        self.conf = ConfState()
        self._sessions: dict[str, dict[int, object]] = {}
        self._windows: dict[str, _Window] = {}  # built from _sessions[cid], rebuilt when that dict is replaced

    def _log(self, index: int) -> bytes:
        return self.prefix + log_key(index)

    def data_key(self, key: str) -> bytes:
        return self.data_prefix + key.encode()

    # --- startup ---------------------------------------------------------------
    def load(self) -> Loaded:
        db = self.db
        hs = _unpack(db.get(self._hard)) if db.get(self._hard) else [0, 0, 0]
        conf = conf_from_wire(_unpack(db.get(self._conf_key))) if db.get(self._conf_key) else ConfState()
        snap = snap_from_wire(_unpack(db.get(self._snap_key))) if db.get(self._snap_key) else None
        applied, applied_term = _unpack(db.get(self._applied_key)) if db.get(self._applied_key) else (0, 0)
        first = snap.index + 1 if snap else 1
        entries = [entry_from_wire(_unpack(v)) for _, v in db.iterate(self._log(first), self._log(_MAX_INDEX))]
        self.last_index = entries[-1].index if entries else (snap.index if snap else 0)
        self.applied, self.applied_term, self.conf = applied, applied_term, conf
        self._sessions.clear()
        self._windows.clear()
        return Loaded(HardState(*hs), conf, snap, entries, applied, applied_term, self.members())

    def bootstrap(self, conf: ConfState) -> None:
        """A brand-new node of the initial configuration records it, so a restart knows it."""
        b = self.db.batch()
        b.set(self._conf_key, _pack(conf_to_wire(conf)))
        b.commit(sync=True)
        self.conf = conf

    # --- the hot path: persist + apply in one batch ----------------------------
    def persist_and_apply(self, entries, hard_state: HardState | None, committed, sync: bool,
                          batch=None) -> Applied:
        """With `batch` given, write into it and leave the commit to the caller (many groups, one fsync)."""
        b = self.db.batch() if batch is None else batch
        if entries:
            first = entries[0].index
            if first <= self.last_index:  # a new leader overwrote our uncommitted suffix
                b.delete_range(self._log(first), self._log(_MAX_INDEX))
            for e in entries:
                b.set(self._log(e.index), _pack(entry_to_wire(e)))
            self.last_index = entries[-1].index
        if hard_state is not None:
            b.set(self._hard, _pack([hard_state.term, hard_state.vote, hard_state.commit]))
        out = self.apply(b, committed) if committed else Applied(index=self.applied, term=self.applied_term)
        if batch is None:
            b.commit(sync=sync)
        return out

    def apply(self, b, committed) -> Applied:
        """Apply committed entries into batch b (the caller commits it); -> what they produced."""
        out = Applied()
        overlay: dict[bytes, bytes | None] = {}
        touched_sessions: set[str] = set()
        conf_changed = False
        for e in committed:
            if e.index <= self.applied:  # replay after a snapshot or crash: already in the data
                if e.type == EntryType.CONF_CHANGE:
                    # ... but the core, which handed it out, must still hear of it.
                    out.conf_changes.append((e, decode_conf_change(e.data)))
                continue
            self.applied, self.applied_term = e.index, e.term
            if e.type == EntryType.CONF_CHANGE:
                cc = decode_conf_change(e.data)
                self.conf = next_conf(self.conf, cc)
                conf_changed = True
                if cc.type == ConfChangeType.ADD_LEARNER and cc.context:
                    b.set(self.prefix + member_key(cc.node_id), cc.context)
                if self.on_conf is not None:
                    self.on_conf(self, b, cc)
                out.conf_changes.append((e, cc))
                continue
            if not e.data:  # a new leader's empty entry
                continue
            op, pid, rid, key, a, c = _unpack(e.data)
            result = self._dedup(rid, touched_sessions)
            if result is _NEW:
                if self.owns is not None and not self.owns(key):
                    result = EPOCH_NOT_MATCH  # not remembered: a retry in the right group applies it
                elif op in self.extra_ops:
                    result = self.extra_ops[op](self, b, key, a, c, overlay)
                else:
                    result = self._execute(op, key, a, c, overlay)
                if rid is not None and op != "r" and result is not EPOCH_NOT_MATCH:
                    self._remember(rid, result)
            if pid:
                out.results[pid] = result
        self._flush_overlay(b, overlay)
        for cid in touched_sessions:
            b.set(self._session_prefix + cid.encode(), self._window(cid).packed())
        b.set(self._applied_key, _pack([self.applied, self.applied_term]))
        if conf_changed:
            b.set(self._conf_key, _pack(conf_to_wire(self.conf)))
        out.index, out.term, out.conf = self.applied, self.applied_term, self.conf
        return out

    @staticmethod
    def _flush_overlay(b, overlay: dict) -> None:
        for k, v in overlay.items():
            if v is None:
                b.delete(k)
            else:
                b.set(k, v)

    def sessions(self) -> dict[str, dict[int, object]]:
        """Every client's remembered results (storage thread), the cached ones being newest."""
        p = self._session_prefix
        out = {k[len(p):].decode(): _unpack(v) for k, v in self.db.iterate(p, p + b"\xff")}
        out.update(self._sessions)
        return out

    def _dedup(self, rid, touched: set[str]):
        if rid is None:
            return _NEW
        cid, _, seq = rid.rpartition(":")
        seq = int(seq)
        results = self._session(cid)
        touched.add(cid)
        if seq in results and self.unsafe_bug != "retry-duplicate":  # UNSAFE planted bug: a retry applies again
            return results[seq]
        if results and seq <= self._window(cid).high - SESSION_WINDOW:
            return _STALE
        return _NEW

    def _remember(self, rid: str, result) -> None:
        cid, _, seq = rid.rpartition(":")
        self._window(cid).remember(int(seq), result)

    def _window(self, cid: str) -> _Window:
        results = self._session(cid)
        w = self._windows.get(cid)
        if w is None or w.results is not results:
            w = self._windows[cid] = _Window(results)
        return w

    def absorb_sessions(self, b, sessions: dict[str, dict[int, object]]) -> None:
        """Into batch b: another group's remembered results join ours (a Region merge), ours kept on a clash,
        so a client's retry of a write the other group applied finds its result here."""
        for cid, results in sessions.items():
            mine = self._session(cid)
            for seq, result in results.items():
                mine.setdefault(seq, result)
            self._windows.pop(cid, None)  # seqs added behind its back
            b.set(self._session_prefix + cid.encode(), _pack(mine))

    def restored(self, meta: SnapshotMeta) -> None:
        """The store now holds a snapshot at meta (written by whoever installed it): forget what we cached."""
        self._sessions.clear()
        self._windows.clear()
        self.last_index = self.applied = meta.index
        self.applied_term, self.conf = meta.term, meta.conf

    def _session(self, cid: str) -> dict[int, object]:
        s = self._sessions.get(cid)
        if s is None:
            raw = self.db.get(self._session_prefix + cid.encode())
            s = self._sessions[cid] = _unpack(raw) if raw else {}
        return s

    def _execute(self, op, key, a, c, overlay):
        dk = self.data_prefix + key.encode()
        if op == "p":  # a put or delete needs no read of the key: that was a Pebble get per write on every replica
            overlay[dk] = a
            return True
        if op == "d":
            overlay[dk] = None
            return True
        cur = overlay[dk] if dk in overlay else self.db.get(dk)
        if op == "c":
            if (cur if cur is not None else b"null") != a:
                return False
            overlay[dk] = c
            return True
        if op == "a":
            prefix = json.loads(cur) if cur is not None else ""
            if not isinstance(prefix, str):
                prefix = json.dumps(prefix)  # appending to a non-string stores the text form
            overlay[dk] = canonical(prefix + a)
            return True
        if op == "r":
            return cur
        raise ValueError(f"unknown command {op!r}")

    # --- reads (any thread; Pebble gets are safe alongside a batch commit) -----
    def read(self, key: str) -> bytes | None:
        return self.db.get(self.data_prefix + key.encode())

    # --- snapshots -------------------------------------------------------------
    def snapshot_meta(self) -> SnapshotMeta:
        return SnapshotMeta(self.applied, self.applied_term, self.conf)

    def record_snapshot(self, meta: SnapshotMeta) -> None:
        """The checkpoint at meta.index is on disk: remember it and drop the log behind it."""
        b = self.db.batch()
        self.compact_log(b, meta)
        b.commit(sync=True)

    def compact_log(self, b, meta: SnapshotMeta) -> None:
        """Into batch b: the log ends at meta now (entries <= meta.index dropped)."""
        b.set(self._snap_key, _pack(snap_to_wire(meta)))
        b.delete_range(self._log(0), self._log(meta.index + 1))

    def entry_term(self, index: int) -> int | None:
        """Term of a persisted log entry, None when it is not in the store (compacted or not written)."""
        raw = self.db.get(self._log(index))
        return entry_from_wire(_unpack(raw)).term if raw else None

    def adopt_snapshot(self, meta: SnapshotMeta, hard_state: HardState) -> None:
        """After the data dir was replaced by a leader's checkpoint: make it ours.

        The checkpoint carries the leader's log and hard state; ours replace them,
        and the log restarts empty after the snapshot.
        """
        b = self.db.batch()
        b.delete_range(self.prefix + LOG, self.prefix + LOG + b"\xff")
        b.set(self._hard, _pack([hard_state.term, hard_state.vote, max(hard_state.commit, meta.index)]))
        b.set(self._snap_key, _pack(snap_to_wire(meta)))
        b.set(self._conf_key, _pack(conf_to_wire(meta.conf)))
        b.commit(sync=True)
        self._sessions.clear()
        self._windows.clear()
        self.last_index = meta.index
        raw = self.db.get(self._applied_key)
        self.applied, self.applied_term = _unpack(raw) if raw else (meta.index, meta.term)
        self.conf = meta.conf

    def members(self) -> dict[int, tuple[str, str]]:
        m = self._member
        return {struct.unpack(">Q", k[len(m):])[0]: tuple(_unpack(v)) for k, v in self.db.iterate(m, m + b"\xff" * 9)}


_NEW = object()
_STALE = StaleRequest()
