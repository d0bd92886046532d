"""The Raft algorithm as a pure state machine (no I/O, no clock, no global random).

Shape of etcd-io/raft: each role installs its own `_step_role` and `_tick`;
checks every role shares (terms, votes) run once in `step` first; outgoing
messages only accumulate in `msgs`. `RawNode` (rawnode.py) wraps this with
the Ready / advance handshake.
"""
from __future__ import annotations

import random

from . import quorum
from .config import READ_LEASE, Config, InitialState
from .confchange import decode_conf_change, encode_conf_change
from .errors import ErrCompacted, InvalidConfChange, NotLeader, ProposalDropped
from .log import RaftLog
from .progress import PROBE, REPLICATE, SNAPSHOT, Progress
from .readonly import Rounds
from .types import (
    NONE, ConfChange, ConfChangeType, ConfState, Entry, EntryType, HardState, Message,
    MsgType, ReadState, Role, SnapshotMeta,
)

APP, APP_RESP = MsgType.APP, MsgType.APP_RESP
VOTE, VOTE_RESP = MsgType.VOTE, MsgType.VOTE_RESP
PRE_VOTE, PRE_VOTE_RESP = MsgType.PRE_VOTE, MsgType.PRE_VOTE_RESP
HEARTBEAT, HEARTBEAT_RESP = MsgType.HEARTBEAT, MsgType.HEARTBEAT_RESP
SNAP, SNAP_STATUS = MsgType.SNAP, MsgType.SNAP_STATUS
READ_INDEX, READ_INDEX_RESP = MsgType.READ_INDEX, MsgType.READ_INDEX_RESP
TIMEOUT_NOW, TRANSFER_LEADER = MsgType.TIMEOUT_NOW, MsgType.TRANSFER_LEADER
PROPOSE, UNREACHABLE = MsgType.PROPOSE, MsgType.UNREACHABLE

FOLLOWER, CANDIDATE, PRE_CANDIDATE, LEADER = Role.FOLLOWER, Role.CANDIDATE, Role.PRE_CANDIDATE, Role.LEADER

# Vote requests of a leadership transfer carry this context: voters then grant
# even while they still hear from the current leader (the lease check).
CAMPAIGN_TRANSFER = b"CampaignTransfer"

_RESP_OF = {VOTE: VOTE_RESP, PRE_VOTE: PRE_VOTE_RESP}


class Raft:
    def __init__(self, cfg: Config, st: InitialState, rng: random.Random):
        cfg.validate()
        self.cfg = cfg
        self.id = cfg.id
        self.rng = rng
        self.election_timeout = cfg.election_tick
        self.heartbeat_timeout = cfg.heartbeat_tick
        self.lease_ticks = cfg.election_tick - cfg.drift_ticks()
        if self._bug("lease-no-drift-guard"):  # UNSAFE planted bug: no margin for clock drift
            self.lease_ticks = cfg.election_tick
        self.lease_reads = cfg.read_only == READ_LEASE
        self.max_bytes = cfg.max_size_per_msg
        self.max_count = cfg.max_entries_per_msg

        self.log = RaftLog(st.snapshot, st.entries, st.applied)
        hs = st.hard_state or HardState()
        self.term = hs.term
        self.vote = hs.vote
        # An applied entry was committed even if the commit index persisted
        # with it lags behind.
        self.log.commit_to(max(hs.commit, self.log.applied))

        conf = st.conf_state
        if not conf.voters and not conf.learners:
            if st.snapshot is not None and (st.snapshot.conf.voters or st.snapshot.conf.learners):
                conf = st.snapshot.conf
            else:
                conf = ConfState(tuple(cfg.peers), tuple(cfg.learners))
        self.voters: set[int] = set()
        self.learners: set[int] = set()
        self.prs: dict[int, Progress] = {}
        self._set_conf(conf)
        if self.log.snap_index and not (self.log.snap_conf.voters or self.log.snap_conf.learners):
            self.log.snap_conf = conf

        self.msgs: list[Message] = []
        self.read_states: list[ReadState] = []
        self.now = 0  # ticks since start: the leader lease is measured in it
        self.lead = NONE
        self.role = FOLLOWER
        self.lead_transferee = NONE
        self.pending_conf_index = 0
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = self.election_timeout
        self.votes: dict[int, bool] = {}
        self.rounds = Rounds()
        self.pending_reads: list[tuple[bytes, int, bool | None]] = []  # before the first commit of the term
        self.lease_disabled = False
        self.bcast_pending = False
        self.last_bcast_commit = 0
        # A restarted node may have acknowledged a leader just before it went
        # down: it grants no vote for one election timeout, as if that leader
        # were still heard, so leader leases stay sound across restarts.
        self.quiet = hs.term > 0
        self._step_role = self._step_follower
        self._tick = self._tick_election
        self.become_follower(self.term, NONE)

    # --- planted bugs --------------------------------------------------------
    def _bug(self, name: str) -> bool:
        """The single place where planted bugs branch off the safe path.

        Known names: "readindex-before-term-commit" (a new leader answers
        ReadIndex before it committed an entry of its term), "lease-no-drift-guard"
        (the lease lasts the whole election timeout), "no-checkquorum" (the
        leader never steps down and answers lease reads while it believes it
        leads, as etcd's lease-based ReadIndex trusts CheckQuorum to depose it),
        "snapshot-lost-entries" (installing a snapshot drops the log after it,
        even where it matches). The node's own are listed in node.UNSAFE_BUGS.
        """
        return self.cfg.unsafe_bug == name

    # --- configuration -------------------------------------------------------
    def _set_conf(self, conf: ConfState) -> None:
        self.voters = set(conf.voters)
        self.learners = set(conf.learners)
        nxt = self.log.last_index() + 1
        old = self.prs
        self.prs = {}
        for i in self.voters | self.learners:
            pr = old.get(i) or Progress(nxt, self.cfg.max_inflight_msgs)
            pr.is_learner = i in self.learners
            self.prs[i] = pr

    def conf_state(self) -> ConfState:
        return ConfState(tuple(sorted(self.voters)), tuple(sorted(self.learners)))

    def promotable(self) -> bool:
        return self.id in self.voters

    def hard_state(self) -> HardState:
        return HardState(self.term, self.vote, self.log.committed)

    def visible_role(self) -> Role:
        if self.role == FOLLOWER and self.id in self.learners:
            return Role.LEARNER
        return self.role

    # --- role changes --------------------------------------------------------
    def _reset(self, term: int) -> None:
        if self.term != term:
            self.term = term
            self.vote = NONE
        self.lead = NONE
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = self.election_timeout + self.rng.randrange(self.election_timeout)
        self.lead_transferee = NONE
        self.votes = {}
        last = self.log.last_index()
        cap = self.cfg.max_inflight_msgs
        for i in self.prs:
            pr = Progress(last + 1, cap, i in self.learners)
            if i == self.id:
                pr.match = last
            self.prs[i] = pr
        self.pending_conf_index = 0
        self.rounds = Rounds()
        self.pending_reads = []
        self.lease_disabled = False
        self.bcast_pending = False

    def become_follower(self, term: int, lead: int) -> None:
        self._step_role = self._step_follower
        self._tick = self._tick_election
        self._reset(term)
        self.lead = lead
        self.role = FOLLOWER

    def become_pre_candidate(self) -> None:
        if self.role == LEADER:
            raise AssertionError("invalid transition leader -> pre-candidate")
        # PreVote changes neither term nor vote: a partitioned node can try
        # forever without disrupting the cluster when it comes back.
        self._step_role = self._step_candidate
        self._tick = self._tick_election
        self.votes = {}
        self.lead = NONE
        self.role = PRE_CANDIDATE

    def become_candidate(self) -> None:
        if self.role == LEADER:
            raise AssertionError("invalid transition leader -> candidate")
        self._step_role = self._step_candidate
        self._tick = self._tick_election
        self._reset(self.term + 1)
        self.vote = self.id
        self.role = CANDIDATE

    def become_leader(self) -> None:
        if self.role == FOLLOWER:
            raise AssertionError("invalid transition follower -> leader")
        self._step_role = self._step_leader
        self._tick = self._tick_heartbeat
        self._reset(self.term)
        self.lead = self.id
        self.role = LEADER
        self.prs[self.id].become_replicate()
        # Commit an entry of the new term at once: only that commits the
        # entries of earlier terms, and ReadIndex waits for it.
        self._append_entries([Entry(self.term, self.log.last_index() + 1)])
        # No membership change until everything before that entry is applied.
        self.pending_conf_index = self.log.last_index()
        self.bcast_pending = True

    # --- ticks ---------------------------------------------------------------
    def tick(self) -> None:
        self.now += 1
        self._tick()

    def advance_clock(self, ticks: int) -> None:
        """Ticks that passed while the node did not run (a stalled or paused process).

        They count for the lease, which must expire in real time, but not as
        silence from peers: messages could not be read meanwhile, so no
        election or CheckQuorum step-down follows from our own stall.
        """
        if ticks > 0:
            self.now += ticks

    def void_lease(self) -> None:
        """The node's clock is not to be trusted (it read less than before): the lease it measured
        ends now; the next confirmed round starts a new one."""
        self.rounds.lease_start = None

    def _past_election_timeout(self) -> bool:
        return self.election_elapsed >= self.randomized_election_timeout

    def _tick_election(self) -> None:
        self.election_elapsed += 1
        if self.quiet and self.election_elapsed >= self.election_timeout:
            self.quiet = False
        if self.promotable() and self._past_election_timeout():
            self.election_elapsed = 0
            self.hup(transfer=False)

    def _tick_heartbeat(self) -> None:
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.election_elapsed >= self.election_timeout:
            self.election_elapsed = 0
            if self.cfg.check_quorum and not self._bug("no-checkquorum"):
                if not self._quorum_active():
                    self.become_follower(self.term, NONE)
                    return
            if self.lead_transferee != NONE:
                self.lead_transferee = NONE  # the transfer timed out
        if self.heartbeat_elapsed >= self.heartbeat_timeout:
            self.heartbeat_elapsed = 0
            self._bcast_heartbeat()

    def _quorum_active(self) -> bool:
        """CheckQuorum: did a majority of voters answer during the last timeout?"""
        active = 0
        for i in self.voters:
            pr = self.prs[i]
            if i == self.id or pr.recent_active:
                active += 1
        for i, pr in self.prs.items():
            pr.recent_active = i == self.id
        return active >= quorum.majority(len(self.voters))

    # --- elections -----------------------------------------------------------
    def hup(self, transfer: bool) -> None:
        if self.role == LEADER or not self.promotable():
            return
        if self._pending_conf_unapplied():
            # The configuration this node would campaign under is not final.
            return
        if self.cfg.pre_vote and not transfer:
            self._campaign(pre=True, transfer=False)
        else:
            self._campaign(pre=False, transfer=transfer)

    def _pending_conf_unapplied(self) -> bool:
        log = self.log
        if log.committed <= log.applied:
            return False
        lo = max(log.applied, log.snap_index) + 1
        for e in log.slice(lo, log.committed + 1):
            if e.type == EntryType.CONF_CHANGE:
                return True
        return False

    def _campaign(self, pre: bool, transfer: bool) -> None:
        if pre:
            self.become_pre_candidate()
            mtype, term = PRE_VOTE, self.term + 1
        else:
            self.become_candidate()
            mtype, term = VOTE, self.term
        if self._poll(self.id, True) == quorum.WON:
            # A single voter wins at once.
            if pre:
                self._campaign(pre=False, transfer=transfer)
            else:
                self.become_leader()
            return
        ctx = CAMPAIGN_TRANSFER if transfer else b""
        li, lt = self.log.last_index(), self.log.last_term()
        for i in sorted(self.voters):
            if i != self.id:
                self.msgs.append(Message(mtype, i, self.id, term, lt, li, context=ctx))

    def _poll(self, frm: int, granted: bool) -> int:
        self.votes.setdefault(frm, granted)
        return quorum.vote_result(self.voters, self.votes)

    # --- step: what every role shares ----------------------------------------
    def step(self, m: Message) -> None:
        t = m.type
        if m.term == 0:
            pass  # node-local message
        elif m.term > self.term:
            if t == VOTE or t == PRE_VOTE:
                force = m.context == CAMPAIGN_TRANSFER
                in_lease = (self.cfg.check_quorum and self.election_elapsed < self.election_timeout
                            and (self.lead != NONE or self.quiet))
                if in_lease and not force:
                    # We heard from a leader recently: this candidate is
                    # disrupting a healthy cluster. Ignore it entirely.
                    return
            if t == PRE_VOTE:
                pass  # never change the term for a PreVote
            elif t == PRE_VOTE_RESP and not m.reject:
                pass  # the term we would campaign with; not ours yet
            elif t == APP or t == HEARTBEAT or t == SNAP:
                self.become_follower(m.term, m.frm)
            else:
                self.become_follower(m.term, NONE)
        elif m.term < self.term:
            if (self.cfg.check_quorum or self.cfg.pre_vote) and (t == HEARTBEAT or t == APP):
                # A stale leader (maybe back from a partition) learns our term
                # and steps down; without this it could never rejoin when
                # PreVote keeps our term from rising.
                self.msgs.append(Message(APP_RESP, m.frm, self.id, self.term))
            elif t == PRE_VOTE:
                self.msgs.append(Message(PRE_VOTE_RESP, m.frm, self.id, self.term, reject=True))
            return

        if t == VOTE or t == PRE_VOTE:
            self._handle_vote_request(m)
        else:
            self._step_role(m)

    def _handle_vote_request(self, m: Message) -> None:
        if not self.voters and not self.learners:
            # We know no configuration: an empty replica waiting for its first snapshot (a Region
            # stand-in, a node that joins). Whatever this id held before is gone; its vote would
            # count an empty log as up to date.
            self.msgs.append(Message(_RESP_OF[m.type], m.frm, self.id, self.term, reject=True))
            return
        can_vote = (self.vote == m.frm
                    or (self.vote == NONE and self.lead == NONE)
                    or (m.type == PRE_VOTE and m.term > self.term))
        resp = _RESP_OF[m.type]
        if can_vote and self.log.is_up_to_date(m.index, m.log_term):
            # The reply carries the candidate's term: for PreVote that tells
            # the pre-candidate this vote belongs to the term it will use.
            self.msgs.append(Message(resp, m.frm, self.id, m.term))
            if m.type == VOTE:
                self.election_elapsed = 0
                self.vote = m.frm
        else:
            self.msgs.append(Message(resp, m.frm, self.id, self.term, reject=True))

    # --- leader --------------------------------------------------------------
    def _step_leader(self, m: Message) -> None:
        t = m.type
        if t == APP_RESP:
            self._leader_app_resp(m)
        elif t == HEARTBEAT_RESP:
            self._leader_heartbeat_resp(m)
        elif t == READ_INDEX:
            self._leader_read_index(m.context, m.frm)
        elif t == TRANSFER_LEADER:
            self._leader_transfer(m.index)
        elif t == SNAP_STATUS:
            self._leader_snap_status(m.frm, not m.reject)
        elif t == UNREACHABLE:
            pr = self.prs.get(m.frm)
            if pr is not None and pr.state == REPLICATE:
                pr.become_probe()
        elif t == PROPOSE:
            # A forwarded proposal takes the same path as a local one: a membership change
            # goes through the one-at-a-time gate and is stamped with its base there.
            for e in m.entries:
                try:
                    if e.type == EntryType.CONF_CHANGE:
                        self.propose_conf_change(decode_conf_change(e.data))
                    else:
                        self.propose(e.data)
                except (ProposalDropped, ValueError):
                    return  # the forwarding node times out and retries

    def _leader_app_resp(self, m: Message) -> None:
        pr = self.prs.get(m.frm)
        if pr is None:
            return
        pr.recent_active = True
        if m.reject:
            hint = m.reject_hint
            if m.log_term > 0:
                hint = self.log.find_conflict_by_term(hint, m.log_term)
            if pr.maybe_decr_to(m.index, hint):
                if pr.state == REPLICATE:
                    pr.become_probe()
                self._send_append(m.frm, pr, True)
            return
        if not pr.maybe_update(m.index):
            return
        if pr.state == PROBE:
            pr.become_replicate()
        elif pr.state == SNAPSHOT and pr.match + 1 >= self.log.first_index():
            pr.become_probe()
            pr.become_replicate()
        elif pr.state == REPLICATE:
            pr.inflights.free_le(m.index)
        if self._maybe_commit():
            self.bcast_pending = True
        while self._send_append(m.frm, pr, False):
            pass
        if m.frm == self.lead_transferee and pr.match == self.log.last_index():
            self._send_timeout_now(m.frm)

    def _leader_heartbeat_resp(self, m: Message) -> None:
        pr = self.prs.get(m.frm)
        if pr is None:
            return
        pr.recent_active = True
        pr.probe_sent = False
        if pr.state == REPLICATE and pr.inflights.full():
            pr.inflights.free_first_one()
        if pr.match < self.log.last_index():
            self._send_append(m.frm, pr, True)
        if m.frm in self.voters and m.index:
            self.rounds.ack(m.frm, m.index)
            self._release_reads()

    def _release_reads(self) -> None:
        for req in self.rounds.confirm(self.id, self.voters):
            self._answer_read(req.index, req.ctx, req.frm)

    def _answer_read(self, index: int, ctx: bytes, frm: int) -> None:
        if frm == self.id or frm == NONE:
            self.read_states.append(ReadState(index, ctx))
        else:
            self.msgs.append(Message(READ_INDEX_RESP, frm, self.id, self.term, index=index, context=ctx))

    def _committed_in_term(self) -> bool:
        return self.log.term_or_none(self.log.committed) == self.term

    def _leader_read_index(self, ctx: bytes, frm: int, lease: bool | None = None) -> None:
        if not self._committed_in_term() and not self._bug("readindex-before-term-commit"):
            # Our commit index may lag the previous leader's: answering now
            # could miss writes it acknowledged. Wait for our first commit.
            self.pending_reads.append((ctx, frm, lease))
            return
        if len(self.voters) == 1 and self.id in self.voters:
            self._answer_read(self.log.committed, ctx, frm)
            return
        use_lease = self.lease_reads if lease is None else lease and self.cfg.check_quorum
        if (use_lease and not self.lease_disabled and self.lead_transferee == NONE
                and (self.rounds.lease_valid(self.now, self.lease_ticks) or self._bug("no-checkquorum"))):
            self._answer_read(self.log.committed, ctx, frm)
            return
        self.rounds.add_request(self.log.committed, ctx, frm)

    def _leader_transfer(self, to: int) -> None:
        if to == self.id or to not in self.voters:
            return
        if self.lead_transferee == to:
            return
        self.lead_transferee = to
        self.election_elapsed = 0  # the transfer must finish within one election timeout
        pr = self.prs[to]
        if pr.match == self.log.last_index():
            self._send_timeout_now(to)
        else:
            self._send_append(to, pr, True)

    def _send_timeout_now(self, to: int) -> None:
        # The transferee wins without waiting for leases to expire, so ours is
        # void from now on in this term.
        self.lease_disabled = True
        self.msgs.append(Message(TIMEOUT_NOW, to, self.id, self.term))

    def _leader_snap_status(self, frm: int, ok: bool) -> None:
        pr = self.prs.get(frm)
        if pr is None or pr.state != SNAPSHOT:
            return
        if not ok:
            pr.pending_snapshot = 0
        pr.become_probe()
        # Wait for the follower's answer (or the next heartbeat's) before sending more.
        pr.probe_sent = True

    def _maybe_commit(self) -> bool:
        prs = self.prs
        mci = quorum.committed_index(self.voters, lambda i: prs[i].match)
        log = self.log
        if mci > log.committed and log.term_or_none(mci) == self.term:
            first_of_term = not self._committed_in_term()
            log.commit_to(mci)
            if first_of_term and self.pending_reads:
                pending, self.pending_reads = self.pending_reads, []
                for ctx, frm, lease in pending:
                    self._leader_read_index(ctx, frm, lease)
            return True
        return False

    def _append_entries(self, ents: list[Entry]) -> None:
        li = self.log.append(ents)
        if not self.cfg.leader_ack_on_persist:
            self.prs[self.id].maybe_update(li)
            self._maybe_commit()

    def persisted(self, index: int, term: int) -> None:
        """The node synced its log up to (index, term): as leader, that much of it now counts."""
        if self.role != LEADER or term != self.term or self.log.term_or_none(index) != term:
            return  # written under another leadership: it counts when this term's entries do
        if self.prs[self.id].maybe_update(index) and self._maybe_commit():
            self.bcast_pending = True

    def _send_append(self, to: int, pr: Progress, send_if_empty: bool) -> bool:
        if pr.is_paused():
            return False
        log = self.log
        prev = pr.next - 1
        try:
            prev_term = log.term(prev)
            ents = log.entries_from(pr.next, self.max_bytes, self.max_count) if pr.next <= log.last_index() else []
        except ErrCompacted:
            return self._send_snapshot(to, pr)
        if not ents and not send_if_empty:
            return False
        self.msgs.append(Message(APP, to, self.id, self.term, prev_term, prev, tuple(ents), log.committed))
        if ents:
            pr.sent_entries(ents[-1].index)
        return True

    def _send_snapshot(self, to: int, pr: Progress) -> bool:
        if not pr.recent_active:
            return False  # it may be down; a snapshot is expensive
        meta = self.log.snapshot_meta()
        pr.become_snapshot(meta.index)
        self.msgs.append(Message(SNAP, to, self.id, self.term, snapshot=meta))
        return True

    def flush(self) -> None:
        """Send what proposals, commits and reads since the last flush need (batched)."""
        if self.role != LEADER:
            return
        if self.bcast_pending:
            self.bcast_pending = False
            commit_changed = self.log.committed != self.last_bcast_commit
            self.last_bcast_commit = self.log.committed
            for i, pr in self.prs.items():
                if i != self.id:
                    sent = self._send_append(i, pr, commit_changed)
                    while sent and pr.state == REPLICATE:
                        sent = self._send_append(i, pr, False)
        if self.rounds.want_round:
            self._bcast_heartbeat()

    def _bcast_heartbeat(self) -> None:
        rnd = self.rounds.start_round(self.now)
        commit = self.log.committed
        for i, pr in self.prs.items():
            if i != self.id:
                self.msgs.append(Message(HEARTBEAT, i, self.id, self.term, index=rnd,
                                         commit=min(pr.match, commit)))
        self._release_reads()  # a single voter confirms alone

    # --- candidate -----------------------------------------------------------
    def _step_candidate(self, m: Message) -> None:
        t = m.type
        if t == APP or t == HEARTBEAT or t == SNAP:
            self.become_follower(m.term, m.frm)
            self._step_follower(m)
        elif (t == VOTE_RESP and self.role == CANDIDATE) or (t == PRE_VOTE_RESP and self.role == PRE_CANDIDATE):
            r = self._poll(m.frm, not m.reject)
            if r == quorum.WON:
                if self.role == PRE_CANDIDATE:
                    self._campaign(pre=False, transfer=False)
                else:
                    self.become_leader()
            elif r == quorum.LOST:
                self.become_follower(self.term, NONE)
        elif t == READ_INDEX_RESP:
            pass  # answered to an earlier term's request; the node retries
        # TIMEOUT_NOW to a candidate is ignored: it is campaigning already.

    # --- follower ------------------------------------------------------------
    def _step_follower(self, m: Message) -> None:
        t = m.type
        if t == APP:
            self.election_elapsed = 0
            self.lead = m.frm
            self._handle_append(m)
        elif t == HEARTBEAT:
            self.election_elapsed = 0
            self.lead = m.frm
            self.log.commit_to(m.commit)
            self.msgs.append(Message(HEARTBEAT_RESP, m.frm, self.id, self.term, index=m.index,
                                     context=m.context))
        elif t == SNAP:
            self.election_elapsed = 0
            self.lead = m.frm
            self._handle_snapshot(m)
        elif t == READ_INDEX_RESP:
            self.read_states.append(ReadState(m.index, m.context))
        elif t == TIMEOUT_NOW:
            self.hup(transfer=True)
        elif t == TRANSFER_LEADER or t == PROPOSE:
            # READ_INDEX from another node is not forwarded again: the answer
            # would come back to us, not to the node that asked.
            if self.lead != NONE:
                self.msgs.append(Message(t, self.lead, self.id, self.term, index=m.index,
                                         entries=m.entries, context=m.context))

    def _handle_append(self, m: Message) -> None:
        log = self.log
        if m.index < log.committed:
            self.msgs.append(Message(APP_RESP, m.frm, self.id, self.term, index=log.committed))
            return
        last_new = log.maybe_append(m.index, m.log_term, m.commit, m.entries)
        if last_new is not None:
            self.msgs.append(Message(APP_RESP, m.frm, self.id, self.term, index=last_new))
            return
        # Fast backtracking: point the leader at our last entry whose term is
        # <= the term it probed with; it skips a whole term per round trip.
        hint = log.find_conflict_by_term(min(m.index, log.last_index()), m.log_term)
        self.msgs.append(Message(APP_RESP, m.frm, self.id, self.term, log_term=log.term(hint),
                                 index=m.index, reject=True, reject_hint=hint))

    def _handle_snapshot(self, m: Message) -> None:
        snap = m.snapshot
        if snap is None:
            raise AssertionError(f"SNAP message without metadata from {m.frm}")
        log = self.log
        if snap.index <= log.committed and not self._bug("snapshot-lost-entries"):
            pass  # old news
        elif log.match_term(snap.index, snap.term) and not self._bug("snapshot-lost-entries"):
            log.commit_to(snap.index)  # we have that prefix already
        else:
            log.restore(snap)
            self._set_conf(snap.conf)
            self.msgs.append(Message(APP_RESP, m.frm, self.id, self.term, index=log.last_index()))
            return
        self.msgs.append(Message(APP_RESP, m.frm, self.id, self.term, index=log.committed))

    # --- requests from the node ----------------------------------------------
    def propose(self, data: bytes) -> int:
        """Append a normal entry to the leader's log; returns its index."""
        return self._propose(data, EntryType.NORMAL)

    def _propose(self, data: bytes, etype: EntryType) -> int:
        if self.role != LEADER:
            raise NotLeader(self.lead)
        if self.id not in self.prs:
            raise ProposalDropped("this leader was removed from the configuration")
        if self.lead_transferee != NONE:
            raise ProposalDropped(f"leadership transfer to {self.lead_transferee} in progress")
        idx = self.log.last_index() + 1
        self._append_entries([Entry(self.term, idx, etype, data)])
        self.bcast_pending = True
        return idx

    def propose_conf_change(self, cc: ConfChange) -> int:
        if self.role != LEADER:
            raise NotLeader(self.lead)
        if self.pending_conf_index > self.log.applied:
            raise ProposalDropped(
                f"configuration change at {self.pending_conf_index} not applied yet (applied {self.log.applied})")
        self._check_conf_change(cc)
        cc = ConfChange(cc.type, cc.node_id, cc.context, self.conf_state())
        idx = self._propose(encode_conf_change(cc), EntryType.CONF_CHANGE)
        self.pending_conf_index = idx
        return idx

    def _check_conf_change(self, cc: ConfChange) -> None:
        n = cc.node_id
        if n <= 0:
            raise InvalidConfChange(f"bad node id {n}")
        if cc.type == ConfChangeType.ADD_LEARNER and n in self.prs:
            raise InvalidConfChange(f"node {n} is already a member")
        if cc.type == ConfChangeType.PROMOTE and n not in self.learners:
            raise InvalidConfChange(f"node {n} is not a learner")
        if cc.type == ConfChangeType.REMOVE:
            if n not in self.prs:
                raise InvalidConfChange(f"node {n} is not a member")
            if self.voters == {n}:
                raise InvalidConfChange("cannot remove the last voter")

    def apply_conf_change(self, cc: ConfChange) -> ConfState:
        """The node applied a CONF_CHANGE entry: the configuration changes now."""
        n = cc.node_id
        if cc.base is not None:
            # One change at a time: the base is the configuration in force
            # when the entry was proposed, and so when it is applied.
            self.voters, self.learners = set(cc.base.voters), set(cc.base.learners)
        if cc.type == ConfChangeType.ADD_LEARNER:
            if n not in self.voters:
                self.learners.add(n)
        elif cc.type == ConfChangeType.PROMOTE:
            if n in self.learners:
                self.learners.discard(n)
                self.voters.add(n)
        elif cc.type == ConfChangeType.REMOVE:
            self.voters.discard(n)
            self.learners.discard(n)
        else:
            raise AssertionError(f"unknown conf change type {cc.type!r}")
        self._set_conf(self.conf_state())
        if self.role == LEADER:
            if n not in self.prs and self.lead_transferee == n:
                self.lead_transferee = NONE
            if self.id not in self.voters:
                self.become_follower(self.term, NONE)
            else:
                if self._maybe_commit():
                    self.bcast_pending = True
                elif cc.type == ConfChangeType.ADD_LEARNER:
                    self.bcast_pending = True
                self._release_reads()
        elif self.role in (CANDIDATE, PRE_CANDIDATE) and self.id not in self.voters:
            self.become_follower(self.term, NONE)
        return self.conf_state()

    def read_index(self, ctx: bytes, lease: bool | None = None) -> None:
        """lease: answer from the leader lease when it is valid (needs CheckQuorum); None: as configured."""
        if self.role == LEADER:
            self._leader_read_index(ctx, self.id, lease)
        elif self.lead != NONE:
            self.msgs.append(Message(READ_INDEX, self.lead, self.id, self.term, context=ctx))
        else:
            raise NotLeader(NONE)

    def transfer_leader(self, to: int) -> None:
        if self.role == LEADER:
            self._leader_transfer(to)
        elif self.lead != NONE:
            self.msgs.append(Message(TRANSFER_LEADER, self.lead, self.id, self.term, index=to))
        else:
            raise NotLeader(NONE)

    def report_unreachable(self, to: int) -> None:
        if self.role == LEADER:
            pr = self.prs.get(to)
            if pr is not None and pr.state == REPLICATE:
                pr.become_probe()

    def report_snapshot(self, to: int, ok: bool) -> None:
        if self.role == LEADER:
            self._leader_snap_status(to, ok)

    def compact(self, index: int, snapshot_meta: SnapshotMeta | None = None) -> None:
        if snapshot_meta is not None:
            if snapshot_meta.index != index:
                raise AssertionError(f"compact({index}) with snapshot meta at {snapshot_meta.index}")
            term, conf = snapshot_meta.term, snapshot_meta.conf
        else:
            if index <= self.log.snap_index:
                return
            term, conf = self.log.term(index), self.conf_state()
        self.log.compact(index, term, conf)

    def status(self) -> dict:
        role = self.visible_role()
        d = {
            "id": self.id,
            "role": "candidate" if role == PRE_CANDIDATE else role.name.lower(),
            "raw_role": role.name.lower(),
            "term": self.term,
            "vote": self.vote,
            "leader": self.lead,
            "commit": self.log.committed,
            "applied": self.log.applied,
            "last_index": self.log.last_index(),
            "snapshot_index": self.log.snap_index,
            "lead_transferee": self.lead_transferee,
            "voters": sorted(self.voters),
            "learners": sorted(self.learners),
            "progress": {},
        }
        if self.role == LEADER:
            d["progress"] = {i: pr.as_dict() for i, pr in sorted(self.prs.items())}
        return d
