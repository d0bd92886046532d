"""How a reference-KV node is started: its command line, built in this one place.

Every piece that starts nodes (the suite's system adapter, `splitbrain
cluster`, the benchmarks, the test harnesses) asks `node_argv` for the
command line, so the node's flags are spelt once, next to the node that
parses them. Also the loopback port picker those pieces share.

    node_argv(1, listen="127.0.0.1:8001", peer_listen="127.0.0.1:9001",
              peers={1: "127.0.0.1:9001", 2: ...}, data_dir="n1", read_mode="lease")
    -> [python, "-m", "reference_kv", "--id", "1", ..., "--read-mode", "lease"]
"""
from __future__ import annotations

import socket
import sys
from typing import Mapping, Sequence

NODE_MODULE = "reference_kv"
# Where pieces that give each node its own address (the suite's backends, Kubernetes) put the admin
# API. Below the kernel's ephemeral port range, so no free_port() pick on the same address takes it.
ADMIN_PORT = 8001
REGION_STORE_MODULE = "reference_kv.regions"


def _id_list(addresses: Mapping) -> str:
    return ",".join(f"{i}={a}" for i, a in addresses.items())


def node_argv(node_id, *, listen, peer_listen, peers: Mapping, data_dir, peer_clients: Mapping | None = None,
              python: str = sys.executable, regions: bool = False, extra: Sequence[str] = (),
              peer_tls=None, **flags) -> list[str]:
    """The command line of node `node_id` (`python -m reference_kv`, or the Region store with `regions`).

    `peers` and `peer_clients` map node id -> address (any object whose str() is
    HOST:PORT). Each keyword flag becomes `--flag-name VALUE`; None leaves it
    out, True gives the bare switch (`join=True` -> `--join`). `extra` is
    appended as it is. Without `peer_tls` (a directory for --peer-tls) the
    node is told to talk plaintext to its peers: every caller here starts
    nodes on loopback or in namespaces and containers it created itself.
    The admin API is served only where `admin_listen=` says, with its token
    from `admin_token_file=` or the environment (reference_kv.admintoken).
    """
    argv = [python, "-m", REGION_STORE_MODULE if regions else NODE_MODULE, "--id", str(node_id),
            "--listen", str(listen), "--peer-listen", str(peer_listen), "--peers", _id_list(peers)]
    if peer_clients:
        argv += ["--peer-clients", _id_list(peer_clients)]
    argv += ["--data-dir", str(data_dir)]
    argv += ["--peer-plaintext"] if peer_tls is None else ["--peer-tls", str(peer_tls)]
    for name, value in flags.items():
        if value is None or value is False:
            continue
        flag = "--" + name.replace("_", "-")
        argv += [flag] if value is True else [flag, str(value)]
    return argv + [str(x) for x in extra]


def placed_argv(a, **flags) -> list[str]:
    """node_argv of a node a nemesis backend placed, from its `NodeAddresses` (read by attribute: the KV
    imports nothing of the suite). It dials peers at `a.dial` (per-link proxies on the local backend) and
    runs `a.python`, the interpreter where it runs (a container's is not the suite's)."""
    return node_argv(a.id, listen=a.client, peer_listen=a.peer, peers=a.dial, peer_clients=a.clients,
                     data_dir=a.data_dir, python=a.python, **flags)


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """n distinct ports the kernel just handed out on host (all held open until all are picked)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port(host: str = "127.0.0.1") -> int:
    return free_ports(1, host)[0]
