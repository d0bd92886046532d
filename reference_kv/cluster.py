"""A local cluster of reference-KV node processes on loopback: up, down, status, remove, rejoin.

`remove` and `rejoin` are the supported way back for a member that lost its
data (see identity.py): it is removed from the configuration, started afresh
with --join, added as a learner that catches up (by snapshot when the log was
compacted) and promoted to voter once caught up.

The cluster directory holds `cluster.json` (ids, addresses, options: enough to
bring any node back), `ca/` (the cluster CA that signs the peer certificates),
`admin.token` (the admin API's token, readable by its owner only; each node's
admin API listens on its own loopback port) and `nodes/<id>/` with each node's data, `tls/` (its peer certificate),
`node.log` and `node.pid`. Nodes are daemons (own session), so they outlive the command that
started them. `up` on an existing directory starts only the nodes that are not
running, with the saved configuration.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from reference_kv import admin, admintoken, launch, tls

CONFIG = "cluster.json"
TOKEN = "admin.token"


def node_dir(root: Path, nid: int) -> Path:
    return root / "nodes" / str(nid)


def create_config(root: Path, n: int, host: str = "127.0.0.1", **options) -> dict:
    ports = iter(launch.free_ports(3 * n, host))
    # the admin API on loopback whatever the client address: only this machine administers the cluster
    nodes = [{"id": i, "address": f"{host}:{next(ports)}", "peer_address": f"{host}:{next(ports)}",
              "admin_address": f"127.0.0.1:{next(ports)}"} for i in range(1, n + 1)]
    cfg = {"nodes": nodes, "options": {k: v for k, v in options.items() if v is not None}, "peer_tls": True}
    root.mkdir(parents=True, exist_ok=True)
    admintoken.write_file(root / TOKEN)
    ca = tls.create_ca(root / "ca")
    for node in nodes:
        tls.issue(ca, node_dir(root, node["id"]) / "tls", f"node-{node['id']}", [host])
    (root / CONFIG).write_text(json.dumps(cfg, indent=2) + "\n")
    return cfg


ADDRESSES = ("address", "peer_address", "admin_address")  # of each node, HOST:PORT
OPTIONS = ("read_mode", "storage", "snapshot_every")  # what `up` records for a new cluster: the nodes' flags


def load_config(root: Path) -> dict | None:
    """cluster.json (None when absent), every field checked before anything starts, stops or is asked: a
    ValueError naming the first field of the wrong shape (a missing address was a KeyError deep in)."""
    p = root / CONFIG
    if not p.exists():
        return None
    try:
        cfg = json.loads(p.read_text())
    except (ValueError, RecursionError, OSError) as e:
        raise ValueError(f"{p} is not a cluster config: {e}") from None
    why = _wrong(cfg)
    if why:
        raise ValueError(f"{p} is not a cluster config: {why}")
    return cfg


def _wrong(cfg) -> str | None:
    """What is wrong with a parsed cluster.json, or None."""
    if type(cfg) is not dict:
        return "not a JSON object"
    nodes = cfg.get("nodes")
    if type(nodes) is not list or not nodes:
        return '"nodes" must be a non-empty list'
    ids = set()
    for i, n in enumerate(nodes):
        if type(n) is not dict:
            return f"nodes[{i}] is not an object"
        if type(n.get("id")) is not int or n["id"] < 1 or n["id"] in ids:
            return f'nodes[{i}]: "id" must be a positive integer of its own'
        ids.add(n["id"])
        for key in ADDRESSES:
            if not _host_port(n.get(key)):
                return f'nodes[{i}]: "{key}" must be HOST:PORT (an IP address and a port 1-65535)'
    options = cfg.get("options", {})
    if type(options) is not dict:
        return '"options" must be an object'
    for key, value in options.items():
        if key not in OPTIONS:
            return f'"options": {key!r} is not one of {", ".join(OPTIONS)}'
        if value is not None and type(value) not in (str, int):
            return f'"options": {key} must be a string or an integer'
    if type(cfg.get("peer_tls", False)) is not bool:
        return '"peer_tls" must be true or false'
    return None


def _host_port(v) -> bool:
    import ipaddress

    if type(v) is not str:
        return False
    host, _, port = v.rpartition(":")
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return port.isdigit() and 1 <= int(port) <= 65535


def node_argv(cfg: dict, root: Path, nid: int, python: str = sys.executable, join: bool = False) -> list[str]:
    nodes = {n["id"]: n for n in cfg["nodes"]}
    return launch.node_argv(nid, listen=nodes[nid]["address"], peer_listen=nodes[nid]["peer_address"],
                            peers={i: n["peer_address"] for i, n in nodes.items()},
                            peer_clients={i: n["address"] for i, n in nodes.items()},
                            data_dir=node_dir(root, nid) / "data", python=python, join=join,
                            admin_listen=nodes[nid]["admin_address"], admin_token_file=root / TOKEN,
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


def start_node(cfg: dict, root: Path, nid: int, join: bool = False) -> subprocess.Popen:
    d = node_dir(root, nid)
    d.mkdir(parents=True, exist_ok=True)
    with open(d / "node.log", "ab") as logf:
        proc = subprocess.Popen(node_argv(cfg, root, nid, join=join), stdin=subprocess.DEVNULL, stdout=logf,
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
            raise RuntimeError(_exited(root, dead[0]))
        if all(r["role"] not in ("down", "starting", "forming") for r in rows) and any(r["role"] == "leader" for r in rows):
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


def _exited(root: Path, nid: int) -> str:
    """Why node nid exited at start: its own last line (a refusal names the remedy), and where its log is."""
    log = node_dir(root, nid) / "node.log"
    try:
        last = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()][-1]
    except (OSError, IndexError):
        last = ""
    return f"node {nid} exited at start: {last.strip()} (log: {log})" if last else f"node {nid} exited at start; see {log}"


def _node(cfg: dict, nid: int) -> dict:
    for n in cfg["nodes"]:
        if n["id"] == nid:
            return n
    raise ValueError(f"no node {nid} in this cluster (nodes: {', '.join(str(n['id']) for n in cfg['nodes'])})")


def _leader(cfg: dict, exclude=()) -> tuple[int, str, dict] | None:
    for n in cfg["nodes"]:
        if n["id"] in exclude:
            continue
        st = admin.status(n["address"], timeout=0.5)
        if st and st.get("role") == "leader":
            return n["id"], n["address"], st
    return None


def at_leader(cfg: dict, root: Path, method: str, path: str, body=None, wait: float = 20.0, exclude=()) -> dict:
    """An admin request to whoever leads now, asked again while the answer is not-leader or none."""
    token = admintoken.read_file(root / TOKEN)
    admin_of = {n["id"]: n["admin_address"] for n in cfg["nodes"]}
    deadline = time.monotonic() + wait
    last = "no leader"
    while time.monotonic() < deadline:
        lead = _leader(cfg, exclude)
        if lead is not None:
            try:
                code, reply = admin.http(admin_of[lead[0]], method, path, body,
                                         timeout=max(0.5, deadline - time.monotonic()), token=token)
            except OSError as e:
                code, reply = None, {"error": str(e)}
            if code == 200:
                return reply
            last = f"{code}: {reply.get('error')}"
            if code not in (None, 503, 504):
                raise RuntimeError(f"{method} {path} refused by the leader (node {lead[0]}): {last}")
        time.sleep(0.2)
    raise RuntimeError(f"{method} {path} did not succeed within {wait:.0f}s ({last})")


def remove(root: Path, cfg: dict, nid: int, out=print) -> None:
    """Remove node nid from the configuration (it stays stopped; its data is no longer a member's)."""
    _node(cfg, nid)
    lead = _leader(cfg)
    if lead is not None and nid not in lead[2].get("voters", []) + lead[2].get("learners", []):
        out(f"node {nid} is not a member (voters {lead[2].get('voters')}); nothing to remove")
        return
    at_leader(cfg, root, "DELETE", f"/admin/members/{nid}")
    out(f"node {nid} removed from the configuration")


def rejoin(root: Path, cfg: dict, nid: int, wait: float = 120.0, out=print) -> None:
    """The way back for node nid: stop it, remove it if it is still a member, start it afresh with
    --join (its data directory is emptied: a member that lost its log may not keep a part of it),
    add it as a learner, wait until it caught up, promote it."""
    me = _node(cfg, nid)
    pid = read_pid(root, nid)
    if pid is not None:
        out(f"stopping node {nid}")
        down(root, {"nodes": [me]})
    remove(root, cfg, nid, out)
    data = node_dir(root, nid) / "data"
    if data.exists():
        shutil.rmtree(data)
        out(f"emptied {data}")
    proc = start_node(cfg, root, nid, join=True)
    deadline = time.monotonic() + wait
    while admin.status(me["address"], timeout=0.5) is None:
        if proc.poll() is not None:
            raise RuntimeError(_exited(root, nid))
        if time.monotonic() > deadline:
            raise RuntimeError(f"node {nid} did not answer within {wait:.0f}s; see {node_dir(root, nid) / 'node.log'}")
        time.sleep(0.1)
    out(f"node {nid} started with --join")
    at_leader(cfg, root, "POST", "/admin/members", {"id": nid, "peer_address": me["peer_address"], "address": me["address"]},
              exclude=(nid,))
    out(f"node {nid} added as a learner; catching up")
    last = 0.0
    while True:
        lead, mine = _leader(cfg, exclude=(nid,)), admin.status(me["address"], timeout=0.5)
        if lead and mine and mine.get("applied", 0) >= lead[2].get("commit", 0) > 0:
            break
        if proc.poll() is not None:
            raise RuntimeError(_exited(root, nid))
        if time.monotonic() > deadline:
            raise RuntimeError(f"node {nid} did not catch up within {wait:.0f}s; see {node_dir(root, nid) / 'node.log'}")
        if time.monotonic() - last > 2:
            last = time.monotonic()
            out(f"  applied {(mine or {}).get('applied', 0)} of {(lead or [0, 0, {}])[2].get('commit', '?')}")
        time.sleep(0.1)
    at_leader(cfg, root, "POST", f"/admin/members/{nid}/promote", exclude=(nid,))
    out(f"node {nid} caught up and promoted: a voter again")
