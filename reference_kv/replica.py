"""One Raft replica's driver: what the single-group node and every Region replica share.

The core (`reference_kv.raft`) is pure; a replica around it needs, whoever hosts it:

- the clock: every tick that really elapsed is counted, a stall of our own process for the lease
  only (see `catch_up_ticks`), and a read catches up before it trusts a lease;
- proposals: an id per proposal, a future answered when the entry applies (or failed when
  leadership is lost: the outcome is then unknown);
- reads: ReadIndex rounds batched (one round serves every read queued meanwhile), per-request
  lease or round, then a wait until the replica applied the read index;
- the apply side of the conf-change discipline: a membership change is handed to the core
  (`apply_conf_change`) when it applies, before the core's applied index may pass it;
- membership changes and leadership transfer as awaitable requests.

Errors are the KV's own (reference_kv.errors). The host (node.py, regions/store.py) owns storage,
transport and the Ready loop, and calls the `on_*` methods with what each Ready produced.
"""
from __future__ import annotations

import asyncio
import itertools
import logging

from reference_kv import errors
from reference_kv.raft import ConfChange, InvalidConfChange, NotLeader, ProposalDropped, RaftError, RawNode
from reference_kv.raft.types import NONE, Role
from reference_kv.statemachine import StaleRequest
from reference_kv.waiting import AppliedWaiters, fail_all, settle

log = logging.getLogger("reference_kv.replica")

# Missed ticks beyond this many are a stall of our own process: they count for the lease but not
# towards elections or CheckQuorum. A process that is merely slow (waking every 20-30 ms) still
# counts all of its time.
STALL_TICKS = 3

ROLE_NAMES = {Role.FOLLOWER: "follower", Role.CANDIDATE: "candidate", Role.PRE_CANDIDATE: "candidate",
              Role.LEADER: "leader", Role.LEARNER: "learner"}


class AsyncioClock:
    """Real time through the event loop (asyncio sleeps keep working under libfaketime)."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class Replica:
    def __init__(self, raw: RawNode, *, node_id: int, clock, tick_s: float, election_ticks: int,
                 request_timeout: float, wake, address_of=lambda node: None, pid_base: int = 0,
                 bug=lambda name: False, on_conf=lambda cc: None):
        """wake(): the host's Ready loop has work; address_of(node) -> client address for not-leader
        hints; on_conf(cc): the host's part of an applied membership change (addresses, members)."""
        self.raw = raw
        self.node_id = node_id
        self.clock = clock
        self.tick_s = tick_s
        self.election_ticks = election_ticks
        self.request_timeout = request_timeout
        self.wake = wake
        self.address_of = address_of
        self._bug = bug
        self.on_conf = on_conf
        self.role = Role.FOLLOWER
        self.leader = NONE
        self.term = 0
        self.applied = raw.raft.log.applied
        self._last_tick = clock.now()
        self._pending: dict[int, asyncio.Future] = {}
        self._pid = itertools.count(1)
        self._pid_base = pid_base << 40
        self._waiters = AppliedWaiters()
        self._conf_waiters: dict[tuple[int, int], list[asyncio.Future]] = {}
        # ReadIndex rounds, one kind per lease wish: reads queued while a round of their kind is out
        # go together in the next one.
        self._read_queue: dict[bool, list[asyncio.Future]] = {False: [], True: []}
        self._read_rounds: dict[bytes, tuple[float, bool, list[asyncio.Future]]] = {}
        self._read_ctx = itertools.count(1)

    # --- errors ------------------------------------------------------------------------------
    def not_leader(self, leader: int | None = None) -> errors.NotLeader:
        leader = self.leader if leader is None else leader
        if leader == self.node_id:
            leader = NONE  # we thought we led and do not: no better hint
        return errors.NotLeader(leader, self.address_of(leader) if leader else None)

    def require_leader(self) -> None:
        if self.role != Role.LEADER:
            raise self.not_leader()

    # --- the clock -----------------------------------------------------------------------------
    def catch_up_ticks(self) -> bool:
        """Count every tick interval that really elapsed; -> whether any did.

        Time the process did not run (SIGSTOP, a stalled host, a long GC) still counts for the
        lease: a leader that slept through its lease must wake up knowing it is gone, not hold it
        for another election timeout. A longer gap does not count as silence from peers (we could
        not read them), so it starts no election and deposes no leader: past STALL_TICKS the
        missed ticks only advance the lease clock. The burst is capped because more than two
        election timeouts change nothing.
        """
        interval = self.tick_s
        now = self.clock.now()
        if now < self._last_tick - interval:
            # A monotonic clock that reads less than it did is broken (or was faked by a thread
            # racing its fake). Waiting for it to catch up would stop the lease and CheckQuorum
            # in their tracks; count on from here instead, and trust no lease measured before.
            # (Less than a tick back is the float slack of the count below, and stops nothing.)
            self._last_tick = now
            self.raw.void_lease()
            return False
        # + 1e-6: floats can make last + interval <= now while (now - last) / interval < 1.
        owed = int((now - self._last_tick) / interval + 1e-6)
        if owed <= 0:
            return False
        self._last_tick += owed * interval
        if owed > 5 and self._bug("lease-ignores-pause"):
            owed = 1  # UNSAFE planted bug: time spent stopped is not counted, so a lease outlives a pause
        owed = min(owed, 2 * self.election_ticks + 2)
        live = min(owed, STALL_TICKS)
        if owed > live:
            self.raw.advance_clock(owed - live)
        for _ in range(live):
            self.raw.tick()
        self.expire_reads()
        self.wake()
        return True

    def stalled(self) -> bool:
        """At least two tick intervals passed since the last catch-up: our process did not run."""
        return self.clock.now() - self._last_tick >= 2 * self.tick_s

    # --- proposals -------------------------------------------------------------------------------
    def new_pid(self) -> int:
        return self._pid_base | next(self._pid)

    async def propose(self, pid: int, data: bytes):
        """Append data (a command carrying pid) through the leader's log; -> its apply result."""
        self.require_leader()
        fut = asyncio.get_running_loop().create_future()
        self._pending[pid] = fut
        try:
            self.raw.propose(data)
        except NotLeader as e:
            self._pending.pop(pid, None)
            raise self.not_leader(e.leader) from None
        except ProposalDropped:
            self._pending.pop(pid, None)
            raise self.not_leader() from None
        self.wake()
        try:
            result = await asyncio.wait_for(fut, self.request_timeout)
        except asyncio.TimeoutError:
            self._pending.pop(pid, None)
            raise errors.Timeout() from None
        if isinstance(result, StaleRequest):
            raise errors.Timeout("request id too old to know its outcome")
        return result

    # --- reads -------------------------------------------------------------------------------------
    async def read_index(self, at_leader: bool, lease: bool = False) -> None:
        """Return once this replica applied everything committed when the read arrived.

        at_leader: only the leader may answer (readindex, lease); else any replica asks its
        leader (follower reads). lease: the leader may answer from its lease while it is valid.
        """
        if at_leader:
            # A read that waited in the socket while we were stopped is handled before the ticker
            # wakes: the core's clock must be up to date before it trusts a lease.
            self.catch_up_ticks()
            self.require_leader()
        elif self.leader == NONE:
            raise self.not_leader(NONE)
        fut = asyncio.get_running_loop().create_future()
        self._read_queue[lease].append(fut)
        if not any(r[1] == lease for r in self._read_rounds.values()):
            self._issue_round(lease)
        try:
            index = await asyncio.wait_for(fut, self.request_timeout)
            await asyncio.wait_for(self._waiters.wait(self.applied, index), self.request_timeout)
        except asyncio.TimeoutError:
            raise errors.Timeout("read index not confirmed in time") from None

    def _issue_round(self, lease: bool) -> None:
        """One ReadIndex round serves every read of its kind queued since the last one."""
        batch = self._read_queue[lease]
        if not batch:
            return
        self._read_queue[lease] = []
        ctx = next(self._read_ctx).to_bytes(8, "big")
        self._read_rounds[ctx] = (self.clock.now(), lease, batch)
        try:
            self.raw.read_index(ctx, lease)
        except NotLeader as e:
            self._read_rounds.pop(ctx, None)
            fail_all(batch, self.not_leader(e.leader))
            return
        self.wake()

    def on_read_state(self, index: int, ctx: bytes) -> None:
        round_ = self._read_rounds.pop(ctx, None)
        if round_ is None:
            return
        _, lease, batch = round_
        for f in batch:
            if not f.done():
                f.set_result(index)
        self._issue_round(lease)

    def expire_reads(self) -> None:
        """A round lost to a dropped message or a leader change: its reads go in a new round."""
        now = self.clock.now()
        limit = self.tick_s * self.election_ticks * 2
        for ctx, (started, lease, batch) in list(self._read_rounds.items()):
            if now - started > limit:
                del self._read_rounds[ctx]
                self._read_queue[lease].extend(f for f in batch if not f.done())
        for lease in (False, True):
            if not any(r[1] == lease for r in self._read_rounds.values()):
                self._issue_round(lease)

    def _fail_reads(self, err: Exception) -> None:
        for _, _, batch in self._read_rounds.values():
            fail_all(batch, err)
        for q in self._read_queue.values():
            fail_all(q, err)
        self._read_rounds.clear()
        self._read_queue = {False: [], True: []}

    # --- what a Ready produced ---------------------------------------------------------------------
    def on_soft_state(self, ss) -> bool:
        """-> whether leadership was lost (its proposals' outcome is now unknown: answered at once)."""
        was_leader = self.role == Role.LEADER
        self.role, self.leader = ss.role, ss.leader
        if was_leader and ss.role != Role.LEADER:
            # Our proposals may still commit under the next leader: the outcome is unknown.
            # Answer at once so clients retry (same request id) instead of waiting out a timeout.
            fail_all(self._pending.values(), errors.Timeout("leadership lost"))
            self._pending.clear()
            self._fail_reads(self.not_leader())
            return True
        return False

    def on_hard_state(self, hs) -> None:
        self.term = hs.term

    def on_applied(self, applied) -> None:
        """An apply finished: membership changes reach the core first (before the Ready that handed
        them out is advanced), then the proposals and reads waiting for this index are answered."""
        for _entry, cc in applied.conf_changes:
            self.raw.apply_conf_change(cc)
            self.on_conf(cc)
            for fut in self._conf_waiters.pop((int(cc.type), cc.node_id), []):
                if not fut.done():
                    fut.set_result(True)
        self.applied = applied.index
        settle(self._pending, applied.results)
        self._waiters.release(self.applied)

    async def applied_at_least(self, index: int) -> None:
        await self._waiters.wait(self.applied, index)

    def destroy(self, err: Exception) -> None:
        """The replica is gone (merged away): whoever still waits here is answered."""
        fail_all(self._pending.values(), err)
        self._pending.clear()
        self._fail_reads(err)
        self._waiters.fail(err)

    # --- membership and leadership --------------------------------------------------------------
    async def change_membership(self, cc: ConfChange) -> None:
        """Propose cc at the leader and return once it applied here; one change is in flight at a time,
        so a change asked while another applies waits for it (within the request timeout)."""
        self.require_leader()
        fut = asyncio.get_running_loop().create_future()
        self._conf_waiters.setdefault((int(cc.type), cc.node_id), []).append(fut)
        deadline = self.clock.now() + self.request_timeout
        while True:
            try:
                self.raw.propose_conf_change(cc)
                break
            except NotLeader as e:
                raise self.not_leader(e.leader) from None
            except InvalidConfChange as e:
                raise errors.Refused(f"membership change refused: {e}") from None
            except ProposalDropped as e:
                # The previous change (or a new leader's first entry) is not applied yet: that
                # passes within moments, so wait for it.
                if self.clock.now() >= deadline:
                    raise errors.Refused(f"membership change refused: {e}") from None
                await self.clock.sleep(self.tick_s)
                self.require_leader()
        self.wake()
        try:
            await asyncio.wait_for(fut, self.request_timeout * 2)
        except asyncio.TimeoutError:
            raise errors.Timeout("membership change not applied in time") from None

    def start_transfer(self, to: int) -> None:
        try:
            self.raw.transfer_leader(to)
        except RaftError:
            raise self.not_leader() from None
        self.wake()

    async def transfer_leader(self, to: int, done=None) -> None:
        """Hand leadership to `to`; return once done() (default: `to` is the leader we know)."""
        self.require_leader()
        self.start_transfer(to)
        done = done or (lambda: self.leader == to)
        deadline = self.clock.now() + self.request_timeout
        while self.clock.now() < deadline:
            if done():
                return
            await self.clock.sleep(self.tick_s)
            if self.role == Role.LEADER and not self.raw.status().get("lead_transferee"):
                # The core gives a transfer one election timeout; a target slow to catch up (a
                # busy disk) needs another try, not a timeout.
                try:
                    self.start_transfer(to)
                except errors.NotLeader:
                    pass
        raise errors.Timeout(f"node {to} did not take over in time")

    def status(self) -> dict:
        st = self.raw.status()
        return {"role": ROLE_NAMES.get(self.role, "follower"), "term": self.term, "leader": self.leader or None,
                "applied": self.applied, "commit": st.get("commit", 0)}


async def ticker(clock, tick_s: float, replicas, after=None) -> None:
    """The host's one ticker: each interval, every replica counts the ticks that elapsed.

    After a stall (we did not run for two intervals or more: a starved or paused process), what
    peers sent meanwhile is read first: otherwise a follower campaigns and a leader steps down over
    heartbeats that sit unread in the socket. (libuv fires timers before it polls sockets; two
    yields let one poll run first under either event loop.) Reads catch up by themselves before
    they trust a lease. after(now): the host's own per-tick work.
    """
    last = clock.now()
    while True:
        await clock.sleep(max(0.0, last + tick_s - clock.now()))
        now = clock.now()
        if now < last - tick_s:
            last = now  # the clock stepped back: count on from here (Replica.catch_up_ticks)
        if now - last >= 2 * tick_s:
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        last += max(1, int((now - last) / tick_s + 1e-6)) * tick_s
        for r in list(replicas()):
            r.catch_up_ticks()
        if after is not None:
            await after(now)
