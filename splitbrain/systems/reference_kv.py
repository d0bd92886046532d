"""The reference Raft KV as a system under test."""
from __future__ import annotations

import dataclasses
import time
from typing import Mapping

from nemesis.types import Addr, Killable, NodeAddresses, NodeSpec, Wipeable
from reference_kv import admin, admintoken, launch
from reference_kv.server import READ_MODES
from workloads.clients.reference_kv import ReferenceKVClient
from splitbrain.systems.base import Defaults, http_json


def region_split_bytes(size: str) -> int:
    from reference_kv.regions.region import parse_size
    from splitbrain.errors import UsageError

    try:
        return parse_size(size)
    except ValueError:
        raise UsageError(f"--region-split-size {size!r}: expected e.g. 256KiB, 1MiB, 64MiB") from None


@dataclasses.dataclass
class ReferenceKV(Defaults):
    read_mode: str = READ_MODES[0]  # the nodes' default, and the load's
    snapshot_every: int | None = None
    tick_ms: int | None = None
    election_ticks: int | None = None
    storage: str = "pebble"
    unsafe_bug: str | None = None
    region_split_size: str | None = None  # set: run `python -m reference_kv.regions` (multi-Raft Regions)
    extra_args: tuple[str, ...] = ()

    name = "reference-kv"
    client = "reference-kv"
    per_link_dial = True
    read_modes = READ_MODES  # the node's names, asked of the KV
    stale_read_modes = ReferenceKVClient.STALE_READ_MODES
    options = ("read_mode", "snapshot_every", "unsafe_bug", "region_split_size")

    def __post_init__(self):
        from reference_kv.node import UNSAFE_BUGS
        from splitbrain.errors import UsageError

        if self.region_split_size is not None:
            region_split_bytes(self.region_split_size)
        if self.unsafe_bug is not None and self.unsafe_bug not in UNSAFE_BUGS:
            raise UsageError(f"--unsafe-bug {self.unsafe_bug!r}: the reference KV has no such bug "
                             f"(choose from {', '.join(UNSAFE_BUGS)}; see `splitbrain bugs`)")
        # The run's admin token: handed to the nodes in their environment (every backend passes it),
        # never written into config.json or a command line.
        self._admin_token = admintoken.new_token()
        # Nodes started empty into the running cluster (`--join`) until they are voters again: the
        # argv of their next start says so (a backend asks argv again before every start).
        self._joining: set[str] = set()

    @staticmethod
    def admin_address(a: NodeAddresses) -> Addr:
        """Each node has its own address on every backend, so the admin port is one number for all."""
        return Addr(a.host, launch.ADMIN_PORT)

    def _argv(self, a: NodeAddresses) -> list[str]:
        return launch.placed_argv(a, regions=bool(self.region_split_size), read_mode=self.read_mode,
                                  admin_listen=self.admin_address(a),
                                  storage=self.storage, snapshot_every=self.snapshot_every, tick_ms=self.tick_ms,
                                  election_ticks=self.election_ticks, unsafe_bug=self.unsafe_bug,
                                  region_split_size=self.region_split_size, join=a.id in self._joining,
                                  extra=self.extra_args)

    def sized_load(self, workload: str, keys: int | None, value_size: int | None) -> dict:
        """Unless told otherwise, a kv load on Regions writes about 8 split sizes of data, so that it splits.

        The suite's defaults (8 keys, 16-byte values) write a few hundred KiB in a
        minute: a 256KiB Region would barely split once.
        """
        if not self.region_split_size or workload != "kv":
            return {}
        keys = keys or 1000
        split = region_split_bytes(self.region_split_size)
        return {"keys": keys, "value_size": value_size or max(16, min(4096, -(-8 * split // keys)))}

    def node_specs(self, n: int) -> list[NodeSpec]:
        return [NodeSpec(id=str(i), argv=self._argv, env={admintoken.TOKEN_ENV: self._admin_token})
                for i in range(1, n + 1)]

    def status(self, node: NodeAddresses, timeout: float) -> dict | None:
        body = admin.status(str(node.client), timeout)
        if not isinstance(body, dict):
            return None
        leader = body.get("leader")
        return {"role": body.get("role"), "term": body.get("term"),
                "leader": None if leader in (None, 0) else str(leader),
                "commit": body.get("commit"), "applied": body.get("applied"),
                "snapshot_index": body.get("snapshot_index"), "log_size": body.get("log_size"),
                "incarnation": body.get("incarnation"),
                # its configuration, so status.jsonl shows membership churn as each node saw it
                "voters": body.get("voters"), "learners": body.get("learners")}

    admin_actions = frozenset({"transfer_leader", "remove_member", "add_member"})
    # A member comes back the README's way (started empty with --join): its node is killed and wiped.
    admin_requires = {"add_member": (Killable, Wipeable)}
    MEMBERSHIP_WAIT = 20.0  # seconds a membership request or a catch-up may take (a cut may delay it)

    def admin(self, action: str, nodes: Mapping[str, NodeAddresses], leader: str | None, target: str,
              backend=None) -> None:
        """The admin API behind the faults that need it: leader transfer, and membership: remove a
        member (it keeps running, out of the configuration), add it back (the README's procedure for a
        member that lost its data: killed, emptied, started with --join, added as a learner, promoted
        once it applied what the leader committed)."""
        if action == "transfer_leader":
            if leader is None:
                raise RuntimeError("no leader to transfer from")
            code, body = http_json(self.admin_address(nodes[leader]), "POST", "/admin/transfer-leader",
                                   {"to": int(target)}, timeout=2.0, headers=admintoken.headers(self._admin_token))
            if code != 200:
                raise RuntimeError(f"transfer-leader to {target} refused: {code} {body}")
        elif action == "remove_member":
            self._at_leader(nodes, None, "DELETE", f"/admin/members/{target}", done_if="is not a member")
        elif action == "add_member":
            self._add_back(nodes, target, backend)
        else:
            raise RuntimeError(f"{self.name} has no {action.replace('_', ' ')} here")

    def _at_leader(self, nodes: Mapping[str, NodeAddresses], skip: str | None, method: str, path: str,
                   body: dict | None = None, done_if: str | None = None) -> dict:
        """One admin request at whichever other node leads now, asked again (bounded) while none does,
        the one asked no longer leads (a cut moves leadership) or another change is in flight; a refusal
        saying `done_if` is success (an earlier try took effect but its answer was lost)."""
        deadline = time.monotonic() + self.MEMBERSHIP_WAIT
        last = "no leader"
        while time.monotonic() < deadline:
            for n, a in nodes.items():
                if n == skip or (self.status(a, 0.5) or {}).get("role") != "leader":
                    continue
                try:
                    code, reply = http_json(self.admin_address(a), method, path,
                                            body, timeout=max(0.5, deadline - time.monotonic()),
                                            headers=admintoken.headers(self._admin_token))
                except (OSError, ValueError) as e:
                    code, reply = None, {"error": str(e)}
                if code == 200:
                    return reply or {}
                last = f"node {n}: {code} {reply}"
                if done_if and code == 409 and done_if in str(reply):
                    return {}
                if code not in (None, 409, 503, 504):
                    raise RuntimeError(f"{method} {path} refused: {last}")
            time.sleep(0.2)
        raise RuntimeError(f"{method} {path} did not succeed within {self.MEMBERSHIP_WAIT:.0f} s ({last})")

    def _add_back(self, nodes: Mapping[str, NodeAddresses], target: str, backend) -> None:
        if not (isinstance(backend, Killable) and isinstance(backend, Wipeable)):
            raise RuntimeError("adding a member back needs a backend that can kill and wipe its node")
        a = nodes[target]
        backend.kill(target)
        backend.wipe(target)
        self._joining.add(target)
        backend.start(target)
        self._at_leader(nodes, target, "POST", "/admin/members",
                        {"id": int(target), "peer_address": str(a.peer), "address": str(a.client)},
                        done_if="is already a member")
        deadline = time.monotonic() + self.MEMBERSHIP_WAIT
        while True:
            lead = next((st for n, b in nodes.items() if n != target
                         and (st := self.status(b, 0.5) or {}).get("role") == "leader"), None)
            mine = self.status(a, 0.5) or {}
            if lead and (mine.get("applied") or 0) >= (lead.get("commit") or 0) > 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"node {target} did not catch up as a learner within {self.MEMBERSHIP_WAIT:.0f} s "
                                   f"(applied {mine.get('applied')}, leader's commit {(lead or {}).get('commit')})")
            time.sleep(0.1)
        self._at_leader(nodes, target, "POST", f"/admin/members/{target}/promote", done_if="is not a learner")
        self._joining.discard(target)  # a voter again: a later restart is an ordinary one

    def final_summary(self, clients: dict[str, Addr], timeout: float = 2.0) -> dict:
        """What only the live cluster can tell, for summary.json: the Regions at the end of a Region run."""
        if not self.region_split_size:
            return {}
        for addr in clients.values():
            try:
                code, body = http_json(addr, "GET", "/regions", timeout=timeout)
            except (OSError, ValueError):
                continue
            if code == 200 and isinstance(body, list):
                leaders = {}
                for r in body:
                    leaders[str(r.get("leader"))] = leaders.get(str(r.get("leader")), 0) + 1
                return {"regions": {"count": len(body), "split_size": self.region_split_size,
                                    "leaders_per_node": leaders}}
        return {"regions": {"count": None, "split_size": self.region_split_size}}
