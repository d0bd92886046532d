"""Real single-group nodes (or Region stores) in the simulated world: start, stop, crash, wipe, pause.

Each node gets its own transport on the shared `Network`, its storage from
`Disks` (so a crash loses what it had not synced), SimRunner lanes, a
pausable clock and an rng drawn from the cluster's seed. A fatal error in a
node is recorded in `fatal` and the node is crashed, never the process.
"""
from __future__ import annotations

import asyncio
import random
from pathlib import Path

from reference_kv.sim.disk import Disks
from reference_kv.sim.net import Network
from reference_kv.sim.runner import sim_runners


class PausableClock:
    """The node's monotonic clock on loop time. While paused the node's timers do not fire (a
    SIGSTOPped process) and time goes on; `rate` is how fast it runs against true time (a crystal
    off by a few percent); `step` is added to what the node reads: a clock that jumps (a suspended
    VM, a faulty time source, or libfaketime's single-threaded library read by two threads while
    its rate changes)."""

    def __init__(self) -> None:
        self._running = asyncio.Event()
        self._running.set()
        self.step = 0.0
        self.rate = 1.0
        self._base = None  # (loop time, reading before step) where the current rate began

    def now(self) -> float:
        t = asyncio.get_running_loop().time()
        if self._base is not None:
            t0, c0 = self._base
            t = c0 + (t - t0) * self.rate
        return t + self.step

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.rate)
        while not self._running.is_set():
            await self._running.wait()

    def set_rate(self, rate: float) -> None:
        self._base = (asyncio.get_running_loop().time(), self.now() - self.step)
        self.rate = rate

    def jump(self, seconds: float) -> None:
        self.step += seconds

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    async def running(self) -> None:
        """Until the node is not paused."""
        await self._running.wait()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()


class SimCluster:
    def __init__(self, root: Path, n: int = 3, seed: int = 0, regions: bool = False, opener=None, **options):
        """opener(path, from_checkpoint) -> Storage replaces the simulated disks (e.g. real Pebble,
        whose store is its directory: a rename moves it)."""
        self.root = Path(root)
        self.ids = list(range(1, n + 1))
        self.voters = list(self.ids)
        self.seed = seed
        self.rng = random.Random(seed)
        self.net = Network(random.Random(self.rng.getrandbits(64)))
        self.disks = Disks()
        self.opener = opener or self.disks.open
        self.regions = regions
        self.options = dict(tick_ms=10, election_ticks=10, heartbeat_ticks=3 if regions else 1,
                            request_timeout=3.0)
        self.options.update(options)
        self.nodes: dict = {}  # id -> running Node / Store
        self.clocks: dict[int, PausableClock] = {}
        self.lanes: dict[int, dict] = {}
        self.fatal: list[tuple[int, str, BaseException | None]] = []
        self.incarnations = 0

    def data_dir(self, i: int) -> Path:
        return self.root / f"n{i}"

    def address(self, i: int) -> str:
        return f"sim-{i}:1"

    def config(self, i: int, join: bool = False, **extra):
        peers = {j: self.address(j) for j in self.voters}
        clients = {j: f"sim-{j}:2" for j in sorted(set(self.ids) | set(self.voters))}
        kw = dict(self.options)
        kw.update(extra)
        if self.regions:
            from reference_kv.regions.store import StoreConfig
            return StoreConfig(id=i, data_dir=self.data_dir(i), peers=peers, peer_clients=clients, join=join,
                               seed=self.rng.getrandbits(32), **kw)
        from reference_kv.node import NodeConfig
        return NodeConfig(id=i, data_dir=self.data_dir(i), peers=peers, peer_clients=clients, join=join,
                          peer_address=self.address(i),
                          seed=self.rng.getrandbits(32), **kw)

    # --- lifecycle -----------------------------------------------------------------
    def make(self, i: int, join: bool = False, **extra):
        """A node object for id i, not started."""
        cfg = self.config(i, join, **extra)
        peers = {j: a for j, a in cfg.peers.items() if j != i}
        transport = self.net.transport(i, peers)
        factory, lanes = sim_runners(random.Random(self.rng.getrandbits(64)))
        self.lanes[i] = lanes
        clock = self.clocks[i] = PausableClock()
        rng = random.Random(self.rng.getrandbits(64))
        if self.regions:
            from reference_kv.regions.store import Store
            cls = Store
        else:
            from reference_kv.node import Node
            cls = Node
        node = cls(cfg, self.opener, transport, clock=clock, runners=factory, rng=rng,
                   fatal=lambda what, exc, i=i: self._on_fatal(i, what, exc))
        return node

    async def start(self, i: int, join: bool = False, **extra):
        if i not in self.ids:
            self.ids.append(i)
        node = self.make(i, join, **extra)
        try:
            await node.start()
            await node.running  # formed, or refused
        except BaseException:
            # Refused, or given up on while it still forms: the process is gone either way (a
            # start left running would be a second process on the data directory of the next).
            for lane in self.lanes.get(i, {}).values():
                lane.hold()
            await halt(node)
            raise
        self.nodes[i] = node
        self.incarnations += 1
        return node

    async def start_all(self) -> int:
        await asyncio.gather(*(self.start(i) for i in self.ids))
        return await self.wait_leader()

    async def stop(self, i: int) -> None:
        node = self.nodes.pop(i, None)
        if node is not None:
            await node.stop()

    async def crash(self, i: int, lose_unsynced: bool = True, keep: int = 0) -> None:
        """kill -9 (and, by default, power loss: what was not synced is gone but for the first
        `keep` unsynced batches, a prefix the page cache had written back)."""
        node = self.nodes.pop(i, None)
        if node is None:
            return
        for lane in self.lanes.get(i, {}).values():
            lane.hold()  # what it had queued dies with it
        await halt(node)
        if lose_unsynced:
            self.disks.crash(self.data_dir(i) / "db", keep)

    def wipe(self, i: int) -> None:
        assert i not in self.nodes, "stop or crash the node before wiping its data directory"
        self.disks.wipe(self.data_dir(i))

    def pause(self, i: int) -> None:
        self.clocks[i].pause()
        self.nodes[i].transport.pause()

    def resume(self, i: int) -> None:
        self.clocks[i].resume()
        self.nodes[i].transport.resume()

    async def close(self) -> None:
        for i in list(self.nodes):
            await self.crash(i, lose_unsynced=False)

    @property
    def failures(self) -> list:
        """Fatal errors of nodes and frames the real transport would have refused: a test wants none."""
        return self.fatal + self.net.errors

    def _on_fatal(self, i: int, what: str, exc) -> None:
        self.fatal.append((i, what, exc))
        node = self.nodes.pop(i, None)
        if node is not None:
            asyncio.get_running_loop().create_task(halt(node))

    # --- waiting ---------------------------------------------------------------------
    async def wait(self, pred, timeout: float = 10.0, what: str = "condition", step: float = 0.01):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            v = pred()
            if v:
                return v
            if loop.time() >= deadline:
                raise AssertionError(f"timed out after {timeout}s (virtual) waiting for {what}")
            await asyncio.sleep(step)

    async def retry(self, fn, tries: int = 300, pause: float = 0.02):
        """await fn() until it does not raise (a client retrying through elections and splits)."""
        for _ in range(tries - 1):
            try:
                return await fn()
            except Exception:
                await asyncio.sleep(pause)
        return await fn()

    def key_leader(self, key: str):
        """Region stores: the running store that leads the Region holding key, as one store sees it
        (any running store when it knows no leader)."""
        s = next(iter(self.nodes.values()))
        return self.nodes.get(s._owner(key).leader) or s

    def leader(self):
        """The running leader of the highest term (a Region store's: its meta group's), or None."""
        ls = self.leaders()
        return max(ls, key=lambda i: self._group(self.nodes[i]).term) if ls else None

    def _group(self, n):
        return n.meta if self.regions else n

    def members(self) -> tuple[list, list]:
        """(voters, learners) as the leader has applied them; ([], []) without a leader."""
        lead = self.leader()
        if lead is None:
            return [], []
        st = self._group(self.nodes[lead]).raw.status()
        return st["voters"], st["learners"]

    async def change(self, fn, done, timeout: float = 10.0) -> None:
        """await fn(leader node) until done() holds (an answer lost to a crash, a leader that was
        deposed: the change may have been made anyway); AssertionError past timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done():
            if loop.time() >= deadline:
                raise AssertionError(f"timed out after {timeout}s (virtual) making a membership change")
            lead = self.leader()
            if lead is not None:
                try:
                    await asyncio.wait_for(fn(self.nodes[lead]), max(0.01, deadline - loop.time()))
                except Exception:
                    pass
            # Always some virtual time: an answer that comes at once while done() waits for the
            # leader to apply the change would spin the loop with its clock standing still.
            await asyncio.sleep(0.05)

    async def rejoin(self, i: int, timeout: float = 30.0):
        """The way back for member i that lost its data: remove it, start it empty with --join, add
        it as a learner (it catches up, by snapshot if need be), promote it once caught up."""
        await self.change(lambda n: n.remove(i), lambda: i not in sum(self.members(), []), timeout)
        node = await asyncio.wait_for(self.start(i, join=True), timeout)
        await self.change(lambda n: n.add_learner(i, self.address(i), f"sim-{i}:2"),
                          lambda: i in sum(self.members(), []), timeout)
        lead = lambda: self.nodes.get(self.leader())  # noqa: E731
        await self.wait(lambda: self._group(node) is not None and lead() is not None and
                        self._group(node).applied >= self._group(lead()).applied - 2, timeout,
                        "the learner to catch up")
        await self.change(lambda n: n.promote(i), lambda: i in self.members()[0], timeout)
        return node

    def leaders(self) -> list[int]:
        from reference_kv.raft.types import Role
        # A Region store's leader is its meta group's.
        return [i for i, n in self.nodes.items() if (n.meta.role if self.regions else n.role) == Role.LEADER]

    async def wait_leader(self, timeout: float = 10.0, among=None) -> int:
        def one():
            ls = [i for i in self.leaders() if among is None or i in among]
            return ls[0] if len(ls) == 1 else None
        return await self.wait(one, timeout, "a leader")


async def halt(node) -> None:
    """Stop a node's tasks and connections at once, leaving its storage as it is (a killed process)."""
    node._stopped = True
    for t in node._tasks:
        t.cancel()
    await asyncio.gather(*node._tasks, return_exceptions=True)
    await node.transport.close()
