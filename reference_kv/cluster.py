"""A local cluster of reference-KV node processes on loopback: up, down, status.

The cluster directory holds `cluster.json` (ids, addresses, options: enough to
bring any node back), `ca/` (the cluster CA that signs the peer certificates)
and `nodes/<id>/` with each node's data, `tls/` (its peer certificate),
`node.log` and `node.pid`. Nodes are daemons (own session), so they outlive the command that
started them. `up` on an existing directory starts only the nodes that are not
running, with the saved configuration.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from reference_kv import admin, launch, tls

CONFIG = "cluster.json"


def node_dir(root: Path, nid: int) -> Path:
    return root / "nodes" / str(nid)


def create_config(root: Path, n: int, host: str = "127.0.0.1", **options) -> dict:
    ports = iter(launch.free_ports(2 * n, host))
    nodes = [{"id": i, "address": f"{host}:{next(ports)}", "peer_address": f"{host}:{next(ports)}"}
             for i in range(1, n + 1)]
    cfg = {"nodes": nodes, "options": {k: v for k, v in options.items() if v is not None}, "peer_tls": True}
    root.mkdir(parents=True, exist_ok=True)
    ca = tls.create_ca(root / "ca")
    for node in nodes:
        tls.issue(ca, node_dir(root, node["id"]) / "tls", f"node-{node['id']}", [host])
    (root / CONFIG).write_text(json.dumps(cfg, indent=2) + "\n")
    return cfg


def load_config(root: Path) -> dict | None:
    p = root / CONFIG
    if not p.exists():
        return None
    try:
        cfg = json.loads(p.read_text())
        cfg["nodes"] = [dict(n, id=int(n["id"])) for n in cfg["nodes"]]
        return cfg
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{p} is not a cluster config: {e}") from None


def node_argv(cfg: dict, root: Path, nid: int, python: str = sys.executable) -> list[str]:
    nodes = {n["id"]: n for n in cfg["nodes"]}
    return launch.node_argv(nid, listen=nodes[nid]["address"], peer_listen=nodes[nid]["peer_address"],
                            peers={i: n["peer_address"] for i, n in nodes.items()},
                            peer_clients={i: n["address"] for i, n in nodes.items()},
                            data_dir=node_dir(root, nid) / "data", python=python,
                            peer_tls=node_dir(root, nid) / "tls" if cfg.get("peer_tls") else None,
                            **cfg.get("options", {}))


def read_pid(root: Path, nid: int) -> int | None:
    try:
        pid = int((node_dir(root, nid) / "node.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _is_our_node(pid, nid) else None


def _is_our_node(pid: int, nid: int) -> bool:
    """Alive, not a zombie, and still a reference_kv node with this id (pids get reused)."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[1].split()[0] == "Z":
        return False
    return b"reference_kv" in cmd and b"--id" in cmd and cmd[cmd.index(b"--id") + 1] == str(nid).encode()


def start_node(cfg: dict, root: Path, nid: int) -> subprocess.Popen:
    d = node_dir(root, nid)
    d.mkdir(parents=True, exist_ok=True)
    with open(d / "node.log", "ab") as logf:
        proc = subprocess.Popen(node_argv(cfg, root, nid), stdin=subprocess.DEVNULL, stdout=logf,
                                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    (d / "node.pid").write_text(f"{proc.pid}\n")
    return proc


def status(root: Path, cfg: dict) -> list[dict]:
    out = []
    for n in cfg["nodes"]:
        pid = read_pid(root, n["id"])
        st = admin.status(n["address"], timeout=0.5) if pid else None
        out.append({"id": n["id"], "pid": pid, "address": n["address"], "peer_address": n["peer_address"],
                    "role": (st or {}).get("role", "starting") if pid else "down",
                    "term": (st or {}).get("term"), "leader": (st or {}).get("leader"),
                    "applied": (st or {}).get("applied")})
    return out


def up(root: Path, n: int = 3, wait: float = 15.0, **options) -> tuple[dict, list[int]]:
    """Start every node that is not running; -> (config, ids started). Waits for a leader."""
    cfg = load_config(root) or create_config(root, n, **options)
    started = [nd["id"] for nd in cfg["nodes"] if read_pid(root, nd["id"]) is None]
    procs = {nid: start_node(cfg, root, nid) for nid in started}
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        rows = status(root, cfg)
        # Ask the child itself: until it has exec'd, /proc/<pid>/cmdline is still ours, and a
        # loaded machine can take long enough for that to look like a node that died.
        dead = [nid for nid, p in procs.items() if p.poll() is not None]
        if dead:
            raise RuntimeError(f"node {dead[0]} exited at start; see {node_dir(root, dead[0]) / 'node.log'}")
        if all(r["role"] not in ("down", "starting") for r in rows) and any(r["role"] == "leader" for r in rows):
            break
        time.sleep(0.1)
    else:
        raise RuntimeError(f"no leader within {wait:.0f}s; see {root / 'nodes'}/*/node.log")
    return cfg, started


def down(root: Path, cfg: dict, grace: float = 5.0) -> list[int]:
    """SIGTERM every running node, SIGKILL what is left after `grace` seconds."""
    pids = {nd["id"]: read_pid(root, nd["id"]) for nd in cfg["nodes"]}
    running = {nid: pid for nid, pid in pids.items() if pid}
    for pid in running.values():
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_is_our_node(p, i) for i, p in running.items()):
        time.sleep(0.05)
    for nid, pid in running.items():
        if _is_our_node(pid, nid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for nid in running:
        (node_dir(root, nid) / "node.pid").unlink(missing_ok=True)
    return sorted(running)
