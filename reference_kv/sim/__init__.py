"""An in-process world for the real reference-KV code: virtual time, an in-memory
network, a disk that loses what was not synced, lanes that run as tasks.

Tests run one or many real `Node`s / Region `Store`s in it with no sockets, no
threads and no sleeps; `splitbrain simulate` builds its seeded worlds on it.
"""
from reference_kv.sim.disk import Disks, SimDisk
from reference_kv.sim.loop import VirtualTimeLoop, run
from reference_kv.sim.net import MemTransport, Network
from reference_kv.sim.runner import SimRunner, sim_runners

__all__ = ["Disks", "MemTransport", "Network", "SimDisk", "SimRunner", "VirtualTimeLoop", "run", "sim_runners"]
