"""nemesis: cluster backends and the faults that run on them.

The seam with the suite
-----------------------
The system under test is generic. The suite describes each node with a
`NodeSpec(id, argv, env, data_dir, client_port, peer_port)` where `argv` is a
function the backend calls (before every start) with the `NodeAddresses` it
allocated for that node:

    NodeAddresses.client   where the node listens for clients (the suite dials it)
    NodeAddresses.peer     where the node listens for peers
    NodeAddresses.dial     node id -> address THIS node dials to reach that peer
                           (itself included). On `local` these are per-link proxies.
    NodeAddresses.cluster  node id -> that node's own peer address (a global view)
    NodeAddresses.clients  node id -> client address of every node
    NodeAddresses.data_dir the node's data directory, as the node sees it
    NodeAddresses.python   the Python interpreter where the node runs (a container's
                           is /opt/splitbrain/bin/python, not the suite's sys.executable)
    dial_list()            "id=host:port,..." from `dial`

The reference KV takes `dial` (its launcher, `reference_kv.launch.placed_argv`):

    python -m reference_kv --id ID --listen CLIENT --peer-listen PEER --peers <dial_list()> --data-dir DIR

etcd needs one global view (its cluster id hashes every member's peer URLs), so
it takes `cluster`, not `dial`, and runs on netns/docker/ssh where links are cut
by iptables rather than proxies:

    ",".join(f"{k}=http://{v}" for k, v in a.cluster.items())   # --initial-cluster
    f"http://{a.peer}"                                            # --listen/--initial-advertise-peer-urls
    f"http://{a.client}"                                          # --listen/--advertise-client-urls

Backend options (`nemesis.backends.create(name, workdir, **options)`; unknown
names are a ValueError): local: cut_mode, clock_control, power_loss, disk_mb,
python; netns: clock_control, power_loss, disk_mb, python; docker: image
(default: the reference KV node image, built and cached by `nemesis.images`),
volumes, python, clock_control; ssh: hosts, key_file, known_hosts, remote_dir,
python, client_port, peer_port, clock_control, connect_timeout (see
`nemesis.backends.ssh`).

Usage
-----
    backend = nemesis.backends.create("local", workdir, clock_control=True)
    addrs = backend.setup(specs)            # allocate, create proxies/namespaces/containers
    for n in backend.nodes(): backend.start(n)
    ctx = faults.Context(backend, leader=lambda: ..., status=lambda node, timeout: ..., ...)
    sched = Schedule(ctx, faults.available(ctx), HistoryWriter(run_dir / "history.jsonl"),
                     seed=7, duration=60, interval=5, fault_duration=5, quiet=5).start()
    ...; sched.stop()                       # heals everything, also on Ctrl-C (call it in finally)
    backend.collect_logs(run_dir / "nodes"); backend.teardown()

Backends declare capabilities as runtime-checkable protocols (`nemesis.types`:
Killable, Pausable, Partitionable, Lossy, Delayable, Throttleable, ClockControl,
PowerLoss, TornWrites, Corruptible, Wipeable, DiskFull); a fault package lists the ones it requires and is offered
only where `isinstance(backend, cap)` holds. Options that add capabilities
(`types.ENABLED_BY`: clock_control=True preloads libfaketime, power_loss=True puts
the data dir on the nemesis FUSE filesystem, disk_mb=N puts it on an N MiB tmpfs)
must be chosen when the backend is created, because nodes start with them; the
suite derives them from the chosen packages' capabilities.

Every schedule step is one line in the history, with its fault and phase:
    {"process": "nemesis", "type": "info", "f": "start-partition", "value": {...},
     "fault": "partition-halves", "phase": "start", "time": monotonic_ns}
"""
from .types import (Addr, Backend, ClockControl, Corruptible, Delayable, DiskFull, ExecResult, Killable, Lossy,
                    NodeAddresses, NodeSpec, Partitionable, Pausable, PowerLoss, Throttleable, TornWrites,
                    Wipeable, capabilities)

__all__ = ["Addr", "Backend", "ClockControl", "Corruptible", "Delayable", "DiskFull", "ExecResult", "Killable", "Lossy",
           "NodeAddresses", "NodeSpec", "Partitionable", "Pausable", "PowerLoss", "Throttleable", "TornWrites", "Wipeable",
           "capabilities"]
