"""Which stores the cluster has: the meta group's configuration, followed by every Region.

An operator changes the meta group's configuration (the admin API at the meta leader: add a store
as a learner, promote it, remove it, one change at a time as in a single group). Every Region's
leader then brings its Region's configuration to the meta group's, one change at a time through
the Region's own log: remove a store the meta group no longer has, add a store it has as a
learner, promote a learner the meta group counts as a voter once it has caught up. A Region being
split or merged waits. A store that was added starts with --join and hosts nothing: each Region
reaches it as an empty stand-in that votes for nobody and is filled by a snapshot.

The way back for a store that lost its data (it refuses to start, see identity.py): remove it,
start it empty with --join, add it as a learner, promote it once its replicas caught up.
"""
from __future__ import annotations

import logging
from dataclasses import replace

import msgpack

from reference_kv import errors
from reference_kv.raft import ConfChange, ConfChangeType, RaftError
from reference_kv.raft.types import Role
from reference_kv.regions import layout
from reference_kv.regions.region import Epoch

log = logging.getLogger("reference_kv.regions")

RECONCILE_S = 0.25


class Membership:
    def __init__(self, store):
        self.store = store
        self.members: dict[int, tuple[str, str]] = {}  # store id -> (peer, client address) learned from changes

    # --- the stores the cluster has --------------------------------------------------------------
    def desired(self) -> tuple[set[int], set[int]] | None:
        m = self.store.meta
        if m is None or m.uninit:
            return None
        st = m.raw.status()
        return set(st["voters"]), set(st["learners"])

    def addresses(self, nid: int) -> tuple[str, str]:
        cfg = self.store.cfg
        peer, client = self.members.get(nid, ("", ""))
        return cfg.peers.get(nid) or peer, cfg.peer_clients.get(nid) or client

    def load(self) -> None:
        """At start: the addresses of stores added after the cluster formed (the meta group recorded them)."""
        for nid, (peer, client) in self.store.meta.sm.members().items():
            self._learned(nid, peer, client)

    def _learned(self, nid: int, peer: str, client: str) -> None:
        s = self.store
        self.members[nid] = (peer, client)
        if nid != s.id:
            s.transport.add_peer(nid, s.cfg.peers.get(nid) or peer)

    def on_applied(self, cc: ConfChange) -> None:
        """Loop side of a change applied in any group: a new store's addresses are dialled."""
        if cc.type == ConfChangeType.ADD_LEARNER and cc.context:
            try:
                peer, client = msgpack.unpackb(cc.context, raw=False)
                self._learned(cc.node_id, str(peer), str(client))
            except (ValueError, TypeError, msgpack.UnpackException):
                log.warning("conf change for %d with unreadable context", cc.node_id)

    @staticmethod
    def on_conf(peer, sm, b, cc) -> None:
        """Storage lane, inside the Region's apply: its descriptor carries its stores and a new conf_ver."""
        region = peer.region
        if region is None:
            return
        region = replace(region, peers=tuple(sorted(set(sm.conf.voters) | set(sm.conf.learners))),
                         epoch=Epoch(region.epoch.conf_ver + 1, region.epoch.version))
        b.set(layout.local_region_key(region.id), region.pack())
        peer.region = region

    # --- the operator's changes (at the meta leader) --------------------------------------------
    def _meta_leader(self):
        m = self.store.meta
        if m is None:
            raise errors.NotLeader()
        m.require_leader()
        return m

    async def add_learner(self, node_id: int, peer_address: str, client_address: str) -> None:
        ctx = msgpack.packb([peer_address, client_address], use_bin_type=True)
        await self._meta_leader().change_membership(ConfChange(ConfChangeType.ADD_LEARNER, node_id, ctx))

    async def promote(self, node_id: int) -> None:
        m = self._meta_leader()
        pr = (m.raw.status().get("progress") or {}).get(node_id)
        if pr is None or pr["match"] < m.raw.status()["commit"] or pr["state"] != "replicate":
            raise errors.Refused(f"store {node_id} has not caught up with the meta group yet (match "
                                 f"{pr and pr['match']} of {m.raw.status()['commit']}): promote it once it has")
        await m.change_membership(ConfChange(ConfChangeType.PROMOTE, node_id))

    async def remove(self, node_id: int) -> None:
        await self._meta_leader().change_membership(ConfChange(ConfChangeType.REMOVE, node_id))

    # --- every Region follows ----------------------------------------------------------------
    async def loop(self) -> None:
        while True:
            await self.store.clock.sleep(RECONCILE_S)
            want = self.desired()
            if want is None:
                continue
            for p in self.store.data_peers():
                if p.role == Role.LEADER and not p.splitting and p.merging is None:
                    self.reconcile(p, *want)

    def reconcile(self, p, voters: set[int], learners: set[int]) -> None:
        """One step of Region p (led here) toward the stores' configuration; the core refuses a
        second change while one is in flight, and the next round tries again."""
        st = p.raw.status()
        have_v, have_l = set(st["voters"]), set(st["learners"])
        s = self.store
        for nid in sorted((have_v | have_l) - (voters | learners)):
            if nid == s.id:
                # A leader does not remove itself: it hands the Region to a voter that stays.
                to = next((v for v in sorted(have_v & voters) if v != s.id), None)
                if to is not None:
                    self._try(lambda: p.start_transfer(to))
                return
            self._propose(p, ConfChange(ConfChangeType.REMOVE, nid))
            return
        for nid in sorted((voters | learners) - (have_v | have_l)):
            peer, client = self.addresses(nid)
            self._propose(p, ConfChange(ConfChangeType.ADD_LEARNER, nid,
                                        msgpack.packb([peer, client], use_bin_type=True)))
            return
        progress = st.get("progress") or {}
        for nid in sorted(have_l & voters):
            pr = progress.get(nid)
            if pr is not None and pr["match"] >= st["commit"] and pr["state"] == "replicate":
                self._propose(p, ConfChange(ConfChangeType.PROMOTE, nid))
                return

    def _propose(self, p, cc: ConfChange) -> None:
        try:
            p.raw.propose_conf_change(cc)
            p.wake()
        except RaftError:
            pass  # another change is in flight, or leadership moved: the next round asks again

    @staticmethod
    def _try(fn) -> None:
        try:
            fn()
        except errors.KVError:
            pass


def follows(p, node_id: int, want) -> bool:
    """Region replica p counts node_id as the meta group does (want: its voters, learners)."""
    if want is None:
        return False
    st = p.raw.status()
    return (node_id in st["voters"]) == (node_id in want[0]) and (node_id in st["learners"]) == (node_id in want[1])
