"""A store's client of the meta group: commands proposed where the meta group is led, and the
publisher that keeps the directory's descriptors and leader hints of this store's Regions fresh.

Calls travel over the peer transport (META_CALL / META_REPLY), so stores need no client API of
each other. A retried `I` (allocate an id) may allocate twice: ids are only ever skipped.
"""
from __future__ import annotations

import asyncio
import itertools
import logging

from reference_kv import errors
from reference_kv.raft.types import NONE, Role
from reference_kv.regions import meta
from reference_kv.regions.meta import PUBLISH

log = logging.getLogger("reference_kv.regions")

META_CALL = 19  # [call id, from, op, arg]: propose op at the meta group, where the receiver leads it
META_REPLY = 20  # [call id, ok, result]
FRAME_LIMITS = {META_CALL: 1 << 20, META_REPLY: 1 << 20}


class MetaClient:
    def __init__(self, store):
        self.store = store
        self._calls: dict[int, asyncio.Future] = {}
        self._ids = itertools.count(1)
        self._published: dict[int, tuple] = {}
        self.publish_now = asyncio.Event()

    async def call(self, op: str, arg):
        """Propose a meta command at the meta leader, wherever it is; -> its result."""
        s = self.store
        deadline = s.clock.now() + s.cfg.request_timeout
        while True:
            m = s.meta
            try:
                if m is not None and m.role == Role.LEADER:
                    return await m.command(op, "", arg, None, None)
                leader = m.leader if m is not None else NONE
                if leader not in (NONE, s.id):
                    cid = next(self._ids)
                    fut = self._calls[cid] = asyncio.get_running_loop().create_future()
                    try:
                        if s.transport.send(leader, META_CALL, [cid, s.id, op, arg]):
                            ok, result = await asyncio.wait_for(fut, max(0.05, min(1.0, deadline - s.clock.now())))
                            if ok:
                                return result
                    finally:
                        self._calls.pop(cid, None)
            except errors.NotLeader:
                pass
            except asyncio.TimeoutError:
                log.debug("meta call at leader %d timed out", leader)
            if s.clock.now() >= deadline:
                raise errors.Timeout("meta group unavailable")
            await s.clock.sleep(0.05)

    def on_call(self, payload) -> None:
        s = self.store
        if s.meta is None:
            return  # still forming: the caller asks again
        if not (isinstance(payload, list) and len(payload) == 4 and type(payload[0]) is int
                and type(payload[1]) is int and payload[2] in meta.META_OPS):
            log.warning("store %d: malformed meta call refused", s.id)
            return
        cid, frm, op, arg = payload

        async def serve():
            try:
                reply = [cid, True, await s.meta.command(op, "", arg, None, None)]
            except errors.KVError:
                reply = [cid, False, None]
            s.transport.send(frm, META_REPLY, reply)
        asyncio.get_running_loop().create_task(serve())

    def on_reply(self, payload) -> None:
        if isinstance(payload, list) and len(payload) == 3:
            fut = self._calls.get(payload[0])
            if fut is not None and not fut.done():
                fut.set_result((bool(payload[1]), payload[2]))

    def forget(self, rid: int) -> None:
        self._published.pop(rid, None)

    async def publish_loop(self) -> None:
        """Leaders publish their Regions (and themselves as leader) after a split, a merge or a leader
        change, and every few seconds anyway (a deposed leader's late hint may have overwritten ours)."""
        s = self.store
        rounds = 0
        while True:
            try:
                await asyncio.wait_for(self.publish_now.wait(), s.cfg.publish_s)
            except asyncio.TimeoutError:
                pass
            self.publish_now.clear()
            rounds += 1
            if rounds % 20 == 0:
                self._published.clear()
            items = {p.id: (p.region, s.id) for p in s.data_peers() if p.role == Role.LEADER and p.merging is None}
            todo = {rid: st for rid, st in items.items() if self._published.get(rid) != st}
            if not todo:
                continue
            try:
                await self.call(PUBLISH, [[r.to_json(), leader] for r, leader in todo.values()])
                self._published.update(todo)
            except errors.KVError as e:
                log.debug("publishing regions: %s", e)
