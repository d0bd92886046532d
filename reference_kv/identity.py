"""Who this data directory is: a member id, a token, and the cluster it belongs to.

A member that lost its data must never vote or campaign as that member again:
its votes and acknowledgements of before are gone, so an empty log granting a
vote can elect a leader that lacks acknowledged writes, and a vote given twice
in one term elects two leaders. Restarting it with the same command line
cannot tell that apart from the first start of a new cluster, so the answer
comes from the peers, as etcd's "member has already been bootstrapped" check
and TiKV's store ident do:

- Every data directory gets a random token when it is created, kept with the
  member id under IDENTITY_KEY (synced before the node says anything).
- A new cluster *forms* before anyone votes: each initial voter exchanges
  IDENTITY frames with the others and records every member's token the first
  time it sees it (persisted). A member is formed when its map holds a token
  for every initial voter and every peer answered with that same map; the
  cluster id is a hash of the map. Only formed members create their Raft
  state, so no vote or entry exists anywhere before every initial voter has
  recorded every other's token.
- A member whose token some peer knows differently, or that a formed peer
  counts as a member without knowing its token, lost its data: it refuses to
  start, in one line naming the way back (remove it, start it with --join, add
  it as a learner, promote it once caught up).
- A node started with --join asks a formed peer first, and refuses to start
  while its id is still a voter (remove it first); a learner counts for no
  quorum and no election, so it may be added before it starts.

A cluster can only form with all its initial voters up; a member wiped while
the cluster was still forming leaves maps that never agree (recreate it).
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field, replace

import msgpack

log = logging.getLogger("reference_kv.identity")

IDENTITY_KEY = b"\x02id"  # beside the node's hard state; a Region store keeps one for the store
# transport frame kind: [request, from, token, [[id, token]...], formed, cluster, voters, learners, address, applied]
IDENTITY = 21
FRAME_LIMIT = 64 << 10
RETRY_S = 0.05
PROGRESS_S = 5.0
STRANGER_S = 30.0  # how long a connection to a node that asked who we are outlives its question


class Refused(ValueError):
    """This member must not start as it is asked to; the message names the remedy (one line, exit 2)."""


@dataclass
class Identity:
    member: int
    token: int
    tokens: dict[int, int] = field(default_factory=dict)  # member -> token, first seen wins
    formed: bool = False
    cluster: int = 0
    joined: bool = False  # created by --join: it waits to be added, it forms nothing

    def pack(self) -> bytes:
        return msgpack.packb([self.member, self.token, sorted(self.tokens.items()), self.formed, self.cluster,
                              self.joined], use_bin_type=True)

    @classmethod
    def unpack(cls, data: bytes) -> "Identity":
        member, token, tokens, formed, cluster, joined = msgpack.unpackb(data, raw=False)
        return cls(member, token, {int(a): int(b) for a, b in tokens}, bool(formed), int(cluster), bool(joined))

    def cluster_hex(self) -> str:
        return f"{self.cluster:016x}" if self.cluster else ""


def cluster_id(tokens: dict[int, int]) -> int:
    h = hashlib.sha256(msgpack.packb(sorted(tokens.items())))
    return int.from_bytes(h.digest()[:8], "big") or 1


def load(db) -> Identity | None:
    raw = db.get(IDENTITY_KEY)
    return Identity.unpack(raw) if raw else None


def save(db, ident: Identity) -> None:
    db.set(IDENTITY_KEY, ident.pack(), sync=True)


def forget(db) -> None:
    """A start that was refused leaves the data directory as empty as it found it."""
    db.delete(IDENTITY_KEY, sync=True)


def establish(stored: Identity | None, member: int, fresh: bool, join: bool, rng, data_dir) -> tuple[Identity, bool]:
    """The identity this start runs with -> (identity, whether it must be written).

    fresh: the data directory holds no Raft state. A directory with state but no identity is from
    before identities (its state speaks for it). A fresh directory whose identity never formed
    has done nothing yet: a start with --join replaces it (the remedy after a refusal).
    """
    if stored is not None and stored.member != member:
        raise Refused(f"--data-dir {data_dir} holds node {stored.member}'s data, not node {member}'s")
    if stored is None:
        if not fresh:
            return Identity(member, rng.getrandbits(63) or 1, formed=True), True
        return new(member, rng, joined=join), True
    if fresh and join and not stored.joined and not stored.formed:
        return new(member, rng, joined=True), True
    return stored, False


def new(member: int, rng, joined: bool) -> Identity:
    token = rng.getrandbits(63) or 1
    return Identity(member, token, {} if joined else {member: token}, joined=joined)


def remedy(member: int) -> str:
    return (f"remove it (DELETE /admin/members/{member} at the leader, or `splitbrain cluster remove {member}`), "
            f"then start it with --join and add it back as a learner that catches up and is promoted "
            f"(`splitbrain cluster rejoin {member}` does all of it)")


class Formation:
    """The IDENTITY exchange of one member: answers peers always, runs `join()` until it may start.

    send(peer, kind, payload) is the transport; conf() -> (voters, learners) of the member's
    applied configuration once it runs (None before); persist(identity) writes it synced (on the
    storage lane); clock has now() and sleep().
    """

    def __init__(self, ident: Identity, initial, send, persist, clock, conf=lambda: None, address: str = "",
                 route=lambda peer, address: None):
        self.ident = ident  # what we know now
        self.saved = replace(ident, tokens=dict(ident.tokens))  # what is on disk: the only thing we tell peers
        self.initial = set(initial) | ({ident.member} if not ident.joined else set())
        self.send = send
        self.persist = persist
        self.clock = clock
        self.conf = conf
        # Our peer address, in requests: a peer that does not know us yet (we join) answers there,
        # through route(peer, address), as the transport only sends on connections it dials.
        self.address = address
        self.route = route
        self._answers: dict[int, list] = {}  # peer -> its latest frame
        self._changed = asyncio.Event()
        self._dirty = False

    # --- frames -------------------------------------------------------------------------
    def frame(self, request: bool) -> list:
        i = self.saved
        conf = self.conf() if i.formed or i.joined else None
        voters, learners, applied = conf if conf is not None else ((), (), 0)
        return [request, i.member, i.token, sorted(i.tokens.items()), i.formed, i.cluster,
                list(voters), list(learners), self.address if request else "", applied]

    def on_frame(self, payload) -> None:
        try:
            request, frm, token, tokens, formed, cluster, voters, learners, address, applied = payload
            frm, token, address, applied = int(frm), int(token), str(address), int(applied)
            tokens = {int(a): int(b) for a, b in tokens}
            voters, learners = [int(v) for v in voters], [int(v) for v in learners]
        except (TypeError, ValueError):
            log.warning("malformed identity frame refused")
            return
        if request and frm != self.ident.member:
            if address:
                self.route(frm, address)
            self.send(frm, IDENTITY, self.frame(False))
        if self.saved.formed and not self.saved.joined:
            return  # formed: we only answer
        # A joined member that runs answers as formed: it knows the configuration as well.
        formed = bool(formed) or (bool(voters) and bool(cluster))
        self._answers[frm] = [formed, int(cluster), tokens, set(voters), token, applied]
        if not self.ident.joined:
            # What a peer saw is evidence too: its own token, and every token it recorded.
            seen = dict(tokens)
            seen.setdefault(frm, token)
            for m, t in seen.items():
                if m not in self.ident.tokens and m in self.initial:
                    self.ident.tokens[m] = t
                    self._dirty = True
        self._changed.set()

    # --- deciding ---------------------------------------------------------------------------
    def _verdict(self) -> str | None:
        """'formed', 'adopt' (a formed peer has our token), 'start' (a joiner may wait to be added), a
        refusal message, or None (keep asking)."""
        me = self.ident
        if me.joined:
            return self._join_verdict()
        for peer, (formed, cluster, tokens, voters, _token, _applied) in sorted(self._answers.items()):
            known = tokens.get(me.member)
            if known is not None and known != me.token:
                return (f"node {me.member}'s data directory is not the one cluster "
                        f"{cluster_id(tokens) if formed and not cluster else cluster:016x} knows (node {peer} "
                        f"recorded another): it lost its data and must not vote as node {me.member} again; "
                        + remedy(me.member))
            if formed and known is None:
                if me.member in voters:
                    return (f"node {me.member} has an empty data directory but is a voter of cluster {cluster:016x} "
                            f"(node {peer} says so): it lost its log and must not vote again; " + remedy(me.member))
                return (f"node {me.member} is not a member of cluster {cluster:016x} (node {peer} says so): start it "
                        f"with --join and add it as a learner (POST /admin/members at the leader)")
            if formed and known == me.token:
                return "adopt"
        if set(me.tokens) >= self.initial and all(
                p in self._answers and self._answers[p][2] == me.tokens for p in self.initial - {me.member}):
            return "formed"
        return None

    def _join_verdict(self) -> str | None:
        """A joiner runs once a majority of the voters answered and the freshest of them (the most
        applied) does not count it as a voter. A learner counts for no quorum and no election, so
        joining as one is safe even when it was added before it started; a voter's acknowledgements
        and votes would be gone."""
        me = self.ident
        formed = {p: a for p, a in self._answers.items() if a[0]}
        if not formed:
            return None
        peer, (_f, cluster, _tokens, voters, _token, _applied) = max(formed.items(), key=lambda kv: (kv[1][5], kv[0]))
        others = voters - {me.member}
        # Enough voters to meet every majority that could have committed a later configuration.
        if sum(p in formed for p in others) < min(len(others), len(voters) - len(voters) // 2):
            return None
        if me.member in voters:
            return (f"node {me.member} is still a voter of cluster {cluster:016x} (node {peer} says so): "
                    f"remove it first (DELETE /admin/members/{me.member} at the leader, or "
                    f"`splitbrain cluster remove {me.member}`), then start it with --join and add it back")
        return "start"

    async def _save(self) -> None:
        snapshot = replace(self.ident, tokens=dict(self.ident.tokens))
        await self.persist(snapshot)
        self.saved = snapshot

    async def run(self) -> Identity:
        """Until formed (or, for a joiner, until a formed peer says it may wait to be added); Refused otherwise."""
        started = last_progress = next_ask = self.clock.now()
        while True:
            verdict = self._verdict()
            if self._dirty:
                self._dirty = False
                await self._save()
                continue  # answers may have come in meanwhile
            if verdict == "formed" or verdict == "adopt":
                if verdict == "adopt":
                    formed = next(a for a in self._answers.values() if a[0] and a[2].get(self.ident.member) == self.ident.token)
                    self.ident.tokens, self.ident.cluster = dict(formed[2]), formed[1]
                else:
                    self.ident.cluster = cluster_id(self.ident.tokens)
                self.ident.formed = True
                await self._save()
                log.info("node %d: member of cluster %s", self.ident.member, self.ident.cluster_hex())
                return self.ident
            if verdict == "start":
                formed = next(a for a in self._answers.values() if a[0])
                self.ident.cluster = formed[1]
                await self._save()
                return self.ident
            if verdict is not None:
                raise Refused(verdict)
            now = self.clock.now()
            if now >= next_ask:  # on a timer, not per answer: answers would multiply the questions
                next_ask = now + RETRY_S
                for peer in sorted(self.initial - {self.ident.member}):
                    self.send(peer, IDENTITY, self.frame(True))
            if now - last_progress >= PROGRESS_S:
                last_progress = now
                missing = sorted(p for p in self.initial - {self.ident.member} if p not in self._answers)
                log.info("node %d: %s for %.0f s; no answer yet from %s", self.ident.member,
                         "waiting to be told it may join" if self.ident.joined else "forming the cluster",
                         now - started, missing or "-")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), max(0.0, next_ask - now))
            except asyncio.TimeoutError:
                pass


async def prepare(io, db, member: int, fresh: bool, join: bool, rng, data_dir, peers, send, clock, conf,
                  address: str, route=lambda peer, address: None) -> tuple[Formation, bool]:
    """The identity this start runs with, written if new -> (its Formation, whether it must run first).

    io(fn, *args) runs storage work on the storage lane. The node and the Region store both call
    this, then serve their client API while `Formation.run()` decides (a liveness probe must answer
    while the cluster forms)."""
    ident, write = establish(await io(load, db), member, fresh, join, rng, data_dir)
    if write:
        await io(save, db, ident)
    formation = Formation(ident, peers, send, lambda i: io(save, db, i), clock, conf=conf, address=address,
                          route=route)
    must = (not ident.formed and not ident.joined) or (ident.joined and fresh and not ident.cluster)
    return formation, must


async def form(formation: Formation, io, db, fresh: bool) -> None:
    """Run the formation; a refused fresh start leaves the data directory as empty as it found it."""
    try:
        await formation.run()
    except Refused:
        if fresh:
            await io(forget, db)
        raise


def stranger_route(transport, own_id: int, known):
    """-> route(peer, address) for Formation: a node we do not know asks who we are (it joins);
    the answer goes over a connection to the address it gave (the transport only sends on
    connections it dials), dropped again after STRANGER_S unless known(peer) by then."""
    def route(peer: int, address: str) -> None:
        if peer == own_id or peer in transport.addresses:
            return
        transport.add_peer(peer, address)

        def forget():
            if not known(peer):
                transport.remove_peer(peer)
        asyncio.get_running_loop().call_later(STRANGER_S, forget)
    return route
