"""The node's handle on the core: inputs in, `Ready` batches out.

Contract: `ready()` hands out one batch; until `advance(rd)` the node may keep
calling `step`/`tick`/`propose` (their output waits for the next batch) but
`has_ready()` answers False and `ready()` refuses, so nothing is handed out twice.
"""
from __future__ import annotations

import collections
import random

from .config import Config, InitialState
from .core import Raft
from .types import ConfChange, ConfState, EntryType, HardState, Message, MsgType, Ready, SnapshotMeta, SoftState


class RawNode:
    __slots__ = ("raft", "_prev_soft", "_prev_hard", "_in_flight", "_applying", "_max_committed", "_unapplied_confs")

    def __init__(self, config: Config, state: InitialState | None = None,
                 rng: random.Random | None = None):
        if rng is None:
            raise ValueError("RawNode needs a seeded random.Random (the core uses no global random)")
        self.raft = Raft(config, state or InitialState(), rng)
        r = self.raft
        self._prev_soft = SoftState(r.lead, r.visible_role())
        self._prev_hard = r.hard_state()
        self._in_flight: Ready | None = None
        self._applying = r.log.applied  # last index handed out to apply
        self._max_committed = config.max_committed_per_ready
        # Membership changes handed out to apply and not yet applied (apply_conf_change), oldest first.
        self._unapplied_confs: collections.deque[int] = collections.deque()

    # --- inputs --------------------------------------------------------------
    def tick(self) -> None:
        self.raft.tick()

    def advance_clock(self, ticks: int) -> None:
        """Time the node did not run: counts for the lease only (see Raft.advance_clock)."""
        self.raft.advance_clock(ticks)

    def void_lease(self) -> None:
        """The clock stepped back: see Raft.void_lease."""
        self.raft.void_lease()

    def step(self, msg: Message) -> None:
        if msg.to != self.raft.id:
            raise ValueError(f"message for node {msg.to} stepped into node {self.raft.id}")
        t = msg.type
        if t == MsgType.SNAP_STATUS:
            self.raft.report_snapshot(msg.frm, not msg.reject)
        elif t == MsgType.UNREACHABLE:
            self.raft.report_unreachable(msg.frm)
        else:
            self.raft.step(msg)

    def campaign(self) -> None:
        """Start an election now (tests, operators); PreVote still applies."""
        self.raft.hup(transfer=False)

    def propose(self, data: bytes) -> int:
        """Append data to the log; returns its index. Raises NotLeader / ProposalDropped."""
        return self.raft.propose(data)

    def propose_conf_change(self, cc: ConfChange) -> int:
        return self.raft.propose_conf_change(cc)

    def read_index(self, ctx: bytes, lease: bool | None = None) -> None:
        """Ask for a read index; a ReadState with ctx appears in a later Ready.

        ctx must be unique among this node's outstanding reads. lease: the
        leader answers from its lease while valid (True), never (False), or as
        Config.read_only says (None). Raises NotLeader(0) when no leader is
        known to forward to.
        """
        self.raft.read_index(ctx, lease)

    def transfer_leader(self, to: int) -> None:
        self.raft.transfer_leader(to)

    def apply_conf_change(self, cc: ConfChange) -> ConfState:
        """The node applied the oldest membership change handed out: the configuration changes now.

        Must come before advance() of the Ready that handed it out (etcd's server waits for a conf
        change to be applied before it calls Advance): the core's applied index then never passes
        a change it does not know, so the one-change-at-a-time gate and the configuration it stamps
        on the next change are the applied ones.
        """
        if self._unapplied_confs:
            self._unapplied_confs.popleft()
        return self.raft.apply_conf_change(cc)

    def report_unreachable(self, to: int) -> None:
        self.raft.report_unreachable(to)

    def persisted(self, index: int, term: int) -> None:
        """With Config.leader_ack_on_persist: the entries handed out up to (index, term) are synced."""
        self.raft.persisted(index, term)

    def report_snapshot(self, to: int, ok: bool) -> None:
        self.raft.report_snapshot(to, ok)

    def compact(self, index: int, snapshot_meta: SnapshotMeta | None = None) -> None:
        """Drop log entries <= index: the node holds a snapshot there.

        index may run ahead of the last advance() (a checkpoint taken while a
        Ready is being applied) but not past what was handed out to apply.
        Pass the snapshot's metadata when you have it: without it the
        configuration recorded is the current one, which is only right if no
        membership change was applied after index.
        """
        if index > self._applying and index > self.raft.log.snap_index:
            raise AssertionError(f"compact({index}) beyond the entries handed out to apply ({self._applying})")
        self.raft.compact(index, snapshot_meta)

    def status(self) -> dict:
        return self.raft.status()

    # --- outputs -------------------------------------------------------------
    def has_ready(self) -> bool:
        # Called after every input by a busy node: cheapest checks first.
        if self._in_flight is not None:
            return False
        r = self.raft
        if r.bcast_pending or r.rounds.want_round:
            r.flush()
        if r.msgs or r.read_states:
            return True
        log = r.log
        if log.pending_snapshot is not None or log.stabled != log.snap_index + len(log.ents):
            return True
        c = log.committed
        if c > self._applying and c > log.snap_index:
            return True
        h = self._prev_hard
        if r.term != h.term or r.vote != h.vote or c != h.commit:
            return True
        s = self._prev_soft
        return r.lead != s.leader or r.visible_role() != s.role

    def ready(self) -> Ready:
        if self._in_flight is not None:
            raise AssertionError("ready() called again before advance() of the previous Ready")
        r = self.raft
        r.flush()
        log = r.log
        rd = Ready()
        role = r.visible_role()
        s = self._prev_soft
        if r.lead != s.leader or role != s.role:
            rd.soft_state = SoftState(r.lead, role)
        h = self._prev_hard
        if r.term != h.term or r.vote != h.vote or log.committed != h.commit:
            rd.hard_state = HardState(r.term, r.vote, log.committed)
            rd.must_sync = r.term != h.term or r.vote != h.vote
        rd.entries = log.unstable_entries()
        rd.snapshot = log.pending_snapshot
        if rd.snapshot is None:
            rd.committed_entries = log.next_committed(self._applying, self._max_committed)
            if rd.committed_entries:
                self._applying = rd.committed_entries[-1].index
                for e in rd.committed_entries:
                    if e.type == EntryType.CONF_CHANGE:
                        self._unapplied_confs.append(e.index)
        else:
            rd.must_sync = True
        if rd.entries:
            rd.must_sync = True
        if r.msgs:
            rd.messages, r.msgs = r.msgs, []
        if r.read_states:
            rd.read_states, r.read_states = r.read_states, []
        self._in_flight = rd
        return rd

    def advance(self, rd: Ready) -> None:
        if rd is not self._in_flight:
            raise AssertionError("advance() of a Ready that is not the one handed out last")
        if rd.committed_entries and self._unapplied_confs and self._unapplied_confs[0] <= rd.committed_entries[-1].index:
            raise AssertionError(
                f"advance() past the conf change at {self._unapplied_confs[0]}, which the node has not applied "
                "(apply_conf_change first)")
        self._in_flight = None
        log = self.raft.log
        if rd.soft_state is not None:
            self._prev_soft = rd.soft_state
        if rd.hard_state is not None:
            self._prev_hard = rd.hard_state
        if rd.snapshot is not None:
            if log.pending_snapshot is rd.snapshot:
                log.pending_snapshot = None
            if rd.snapshot.index > log.applied:
                log.applied = rd.snapshot.index
            if rd.snapshot.index > self._applying:
                self._applying = rd.snapshot.index
        if rd.entries:
            last = rd.entries[-1]
            log.stable_to(last.index, last.term)
        if rd.committed_entries:
            log.applied_to(rd.committed_entries[-1].index)
