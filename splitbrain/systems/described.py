"""A system described by a TOML file, for systems that are not Python.

    name = "my-kv"                       # optional, default: the file name
    nodes = 1                            # optional: the system runs exactly this many nodes

    [node]
    command = "{here}/mykv --port {port} --data {data_dir}"   # or a list of arguments
    env = { MYKV_ID = "{id}" }
    cluster_entry = "{id}={host}:{peer_port}"   # one element of {cluster} (every node's own peer address)
    peer_entry = "{id}={host}:{port}"           # one element of {peers} (the address THIS node dials)
    per_link_dial = false          # true if nodes dial peers only through {peers} (local per-link proxies)

    [ready]                        # probe = "tcp" (default) | "http" (url) | "redis"
    probe = "http"
    url = "http://{host}:{port}/health"

    [leader]                       # optional; probe = "http" | "redis"
    url = "http://{host}:{port}/status"
    field = "leader"               # JSON field naming the leader
    self = "id"                    # JSON field naming this node (default: its node id)
    term = "term"                  # optional JSON field with the term

    [client]                       # protocol = reference-kv | etcd | redis | http-json | python:module:Class
    protocol = "http-json"         # other keys are the client's options (see workloads.clients)

Command placeholders: {id} {host} {port} {peer_port} {peers} {cluster} {data_dir}
{python} {here} {nodes} {majority} {first_host} {first_port} {first_peer_port}
{client_addresses} {peer_addresses}. Probe URLs: {id} {host} {port} {peer_port}.
Client option strings: {client_addresses} {peer_addresses} {here}.

Every mistake is a `SystemFileError` naming the key and what was expected.
"""
from __future__ import annotations

import dataclasses
import math
import os
import pathlib
import shlex
import shutil
import sys
import tomllib
from typing import Any, Mapping

from nemesis.types import Addr, NodeAddresses, NodeSpec, check_env_names
from splitbrain import values
from splitbrain.config import MAX_NODES
from splitbrain.systems import probes
from splitbrain.systems.template import TemplateError, names, render
from workloads.clients import PROTOCOLS

NODE_PLACEHOLDERS = ("id", "host", "port", "peer_port", "peers", "cluster", "data_dir", "python", "here",
                     "nodes", "majority", "first_host", "first_port", "first_peer_port", "client_addresses",
                     "peer_addresses")
PROBE_PLACEHOLDERS = ("id", "host", "port", "peer_port")
CLIENT_PLACEHOLDERS = ("client_addresses", "peer_addresses", "here", "python")
TOP_KEYS = {"name", "nodes", "node", "ready", "leader", "client"}
NODE_KEYS = {"command", "env", "cluster_entry", "peer_entry", "per_link_dial", "data_dir", "client_port",
             "peer_port"}
READY_KEYS = {"probe", "url", "timeout"}
LEADER_KEYS = {"probe", "url", "method", "body", "field", "self", "term"}


class SystemFileError(ValueError):
    """One line: `<file>: <key>: <what was expected>`."""


_KIND_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", dict: "a table",
               list: "a list"}


def _kind_name(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(_KIND_NAMES.get(k, k.__name__) for k in kinds)


def _sample(names) -> dict[str, str]:
    return {n: "1" for n in names}


@dataclasses.dataclass
class Described:
    name: str
    path: pathlib.Path
    command: list[str]
    env: dict[str, str]
    cluster_entry: str
    peer_entry: str
    per_link_dial: bool
    data_dir: str
    client_port: int
    peer_port: int
    ready_probe: str
    ready_url: str | None
    ready_timeout: float
    leader: dict | None
    client: dict
    fixed_nodes: int | None

    read_modes = ()
    options = ()

    @property
    def has_leader(self) -> bool:
        return self.leader is not None

    @property
    def client_path(self) -> str | None:
        """Where a python:module:Class client is imported from (the file's directory)."""
        return self.here if self.client["protocol"].startswith("python:") else None

    @property
    def here(self) -> str:
        return str(self.path.parent.resolve())

    # -- lifecycle --------------------------------------------------------------------------

    def _values(self, a: NodeAddresses) -> dict[str, object]:
        ids = list(a.cluster)
        first = ids[0]
        return {
            "id": a.id, "host": a.client.host, "port": a.client.port, "peer_port": a.peer.port,
            "data_dir": a.data_dir, "python": a.python, "here": self.here, "nodes": len(ids),
            "majority": len(ids) // 2 + 1,
            "peers": ",".join(render(self.peer_entry, {"id": k, "host": v.host, "port": v.port})
                              for k, v in a.dial.items()),
            "cluster": ",".join(render(self.cluster_entry, {"id": k, "host": v.host, "peer_port": v.port})
                                for k, v in a.cluster.items()),
            "first_host": a.clients[first].host, "first_port": a.clients[first].port,
            "first_peer_port": a.cluster[first].port,
            "client_addresses": ",".join(str(x) for x in a.clients.values()),
            "peer_addresses": ",".join(str(x) for x in a.cluster.values()),
        }

    def _argv(self, a: NodeAddresses) -> list[str]:
        values = self._values(a)
        return [render(part, values) for part in self.command]

    def missing_command(self) -> str | None:
        """Why the node command cannot run on this machine (no such program), or None; a command
        whose program name depends on the node's addresses is not judged before they exist."""
        first = self.command[0]
        if names(first) - {"here", "python"}:
            return None
        program = render(first, {"here": self.here, "python": sys.executable})
        found = shutil.which(program) if os.sep not in program else (program if os.access(program, os.X_OK) else None)
        if found is None:
            return f"{self.path}: node.command: {program!r} is not a program here (not found, or not executable)"
        return None

    def node_specs(self, n: int) -> list[NodeSpec]:
        out = []
        for i in range(1, n + 1):
            # env is rendered per node without addresses (they are not known before setup)
            env = {k: render(v, {"id": str(i), "here": self.here, "nodes": n}) for k, v in self.env.items()}
            out.append(NodeSpec(id=str(i), argv=self._argv, env=env, data_dir=self.data_dir,
                                client_port=self.client_port, peer_port=self.peer_port))
        return out

    # -- probes -----------------------------------------------------------------------------

    @staticmethod
    def _probe_values(node: NodeAddresses) -> dict[str, object]:
        return {"id": node.id, "host": node.client.host, "port": node.client.port, "peer_port": node.peer.port}

    def ready(self, node: NodeAddresses, timeout: float) -> bool:
        if self.ready_probe == "http":
            return probes.http_ready(render(self.ready_url, self._probe_values(node)), timeout)
        if self.ready_probe == "redis":
            return probes.redis_ready(node.client, timeout)
        return probes.tcp_ready(node.client, timeout)

    def status(self, node: NodeAddresses, timeout: float) -> dict | None:
        lead = self.leader
        if lead is None:
            return {"role": "up"} if self.ready(node, timeout) else None
        if lead["probe"] == "redis":
            return probes.redis_role(node.client, timeout)
        return probes.http_leader(render(lead["url"], self._probe_values(node)), lead["method"], lead["body"],
                                  lead["field"], node.id, lead["self"], lead["term"], timeout)

    # -- client -----------------------------------------------------------------------------

    def client_spec(self, nodes: Mapping[str, NodeAddresses], managed: bool) -> str | dict:
        values = {"here": self.here, "python": sys.executable,
                  "client_addresses": ",".join(str(a.client) for a in nodes.values()),
                  # an external cluster's peer addresses are not known to the suite
                  "peer_addresses": ",".join(str(a.peer) for a in nodes.values()) if managed else None}

        def fill(v: Any, where: str) -> Any:
            if isinstance(v, str):
                try:
                    return render(v, values)
                except TemplateError as e:
                    raise SystemFileError(f"{self.path}: {where}: {e} (with --endpoints, write the "
                                          f"addresses out)" if not managed else f"{self.path}: {where}: {e}")
            if isinstance(v, dict):
                return {k: fill(x, f"{where}.{k}") for k, x in v.items()}
            if isinstance(v, list):
                return [fill(x, f"{where}[{i}]") for i, x in enumerate(v)]
            return v

        # http-json routes keep their own placeholders ({key}, {value}, ...), filled per request
        spec = {k: (v if k == "routes" else fill(v, f"client.{k}")) for k, v in self.client.items()}
        return spec if len(spec) > 1 else spec["protocol"]


# -- loading ----------------------------------------------------------------------------------


class _Reader:
    """Typed access to one table, every error naming its dotted key."""

    def __init__(self, path: pathlib.Path, table: dict, prefix: str, known: set[str] | None):
        self.path, self.table, self.prefix = path, table, prefix
        if known is not None:
            for k in table:
                if k not in known:
                    self.fail(k, f"unknown key (expected one of {', '.join(sorted(known))})")

    def fail(self, key: str, what: str):
        raise SystemFileError(f"{self.path}: {self.prefix}{key}: {what}")

    def get(self, key: str, kind, default=..., expected: str = ""):
        if key not in self.table:
            if default is ...:
                self.fail(key, f"missing ({expected or _kind_name(kind)} expected)")
            return default
        v = self.table[key]
        if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
            self.fail(key, f"expected {expected or _kind_name(kind)}, got {type(v).__name__} {v!r}")
        if isinstance(v, float) and not math.isfinite(v):  # TOML has nan and inf; no setting takes them
            self.fail(key, f"expected {expected or _kind_name(kind)}, got {v!r}")
        return v

    def value(self, key: str, kind: values.Kind, default=...):
        """A number or name of `kind` (splitbrain.values: type, finite, range), or the default when absent."""
        if key not in self.table:
            return self.get(key, object, default)  # the default, or "missing"
        try:
            return kind.check(self.table[key])
        except ValueError as e:
            self.fail(key, str(e))

    def table_of(self, key: str, known: set[str] | None, required: bool = False) -> "_Reader | None":
        if key not in self.table:
            if required:
                self.fail(key, "missing (a table expected)")
            return None
        return _Reader(self.path, self.get(key, dict, expected="a table"), f"{self.prefix}{key}.", known)

    def template(self, key: str, text: str, allowed) -> str:
        try:
            render(text, _sample(allowed))
        except TemplateError as e:
            self.fail(key, str(e))
        return text


def load(path: str | os.PathLike) -> Described:
    p = pathlib.Path(path)
    try:
        raw = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise SystemFileError(f"{p}: no such system file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SystemFileError(f"{p}: cannot read ({e})") from None
    except tomllib.TOMLDecodeError as e:
        raise SystemFileError(f"{p}: not valid TOML ({e})") from None
    top = _Reader(p, raw, "", TOP_KEYS)
    name = top.get("name", str, p.stem)
    fixed = top.value("nodes", values.count(1, MAX_NODES), None)

    node = top.table_of("node", NODE_KEYS, required=True)
    command = node.get("command", (str, list), expected="a string or a list of strings")
    if isinstance(command, str):
        try:
            command = shlex.split(command)
        except ValueError as e:
            node.fail("command", f"expected shell words ({e})")
    if not command or not all(isinstance(c, str) for c in command):
        node.fail("command", "expected a non-empty string or list of strings")
    for part in command:
        node.template("command", part, NODE_PLACEHOLDERS)
    env = node.get("env", dict, {}, "a table of strings")
    for k, v in env.items():
        try:
            check_env_names({k: v})
        except ValueError as e:
            node.fail(f"env.{k}", str(e))
        if not isinstance(v, str):
            node.fail(f"env.{k}", f"expected a string, got {type(v).__name__}")
        node.template(f"env.{k}", v, ("id", "here", "nodes"))
    cluster_entry = node.template("cluster_entry", node.get("cluster_entry", str, "{id}={host}:{peer_port}"),
                                  ("id", "host", "peer_port"))
    peer_entry = node.template("peer_entry", node.get("peer_entry", str, "{id}={host}:{port}"),
                               ("id", "host", "port"))
    ports = {}
    for key in ("client_port", "peer_port"):
        ports[key] = node.get(key, int, 0, "a port number")
        if not 0 <= ports[key] < 65536:
            node.fail(key, f"expected a port number, got {ports[key]}")

    ready = top.table_of("ready", READY_KEYS) or _Reader(p, {}, "ready.", None)
    ready_probe = ready.get("probe", str, "tcp")
    if ready_probe not in ("tcp", "http", "redis"):
        ready.fail("probe", f"expected tcp, http or redis, got {ready_probe!r}")
    ready_url = None
    if ready_probe == "http":
        ready_url = ready.template("url", ready.get("url", str, expected="a URL like http://{host}:{port}/health"),
                                   PROBE_PLACEHOLDERS)
    ready_timeout = float(ready.value("timeout", values.SECONDS, 60.0))

    leader = None
    lr = top.table_of("leader", LEADER_KEYS)
    if lr is not None:
        probe = lr.get("probe", str, "http")
        if probe not in ("http", "redis"):
            lr.fail("probe", f"expected http or redis, got {probe!r}")
        leader = {"probe": probe}
        if probe == "http":
            method = lr.get("method", str, "GET").upper()
            if method not in ("GET", "POST"):
                lr.fail("method", f"expected GET or POST, got {method!r}")
            leader.update(url=lr.template("url", lr.get("url", str, expected="a URL"), PROBE_PLACEHOLDERS),
                          method=method, body=lr.get("body", str, None),
                          field=lr.get("field", str, expected="the JSON field naming the leader"),
                          self=lr.get("self", str, None), term=lr.get("term", str, None))

    client = _client(top.table_of("client", None, required=True))
    return Described(
        name=name, path=p, command=list(command), env=dict(env), cluster_entry=cluster_entry,
        peer_entry=peer_entry, per_link_dial=node.get("per_link_dial", bool, False, "true or false"),
        data_dir=node.get("data_dir", str, "data"), client_port=ports["client_port"],
        peer_port=ports["peer_port"], ready_probe=ready_probe, ready_url=ready_url,
        ready_timeout=ready_timeout, leader=leader, client=dict(client.table), fixed_nodes=fixed)


def _client(c: _Reader) -> _Reader:
    protocol = c.get("protocol", str, expected=f"one of {', '.join(PROTOCOLS)} or python:module:Class")
    if protocol not in PROTOCOLS and not protocol.startswith("python:"):
        c.fail("protocol", f"expected one of {', '.join(PROTOCOLS)} or python:module:Class, got {protocol!r}")
    for k, v in c.table.items():
        if isinstance(v, str) and k != "protocol":
            c.template(k, v, CLIENT_PLACEHOLDERS)
        elif isinstance(v, list) and k != "routes":
            for i, x in enumerate(v):
                if isinstance(x, str):
                    c.template(f"{k}[{i}]", x, CLIENT_PLACEHOLDERS)
    if not protocol.startswith("python:"):
        from workloads.clients import split_spec

        try:
            split_spec(dict(c.table))
        except ValueError as e:
            raise SystemFileError(f"{c.path}: client.{e}") from None
    else:
        from workloads.clients import split_spec

        # the user's module is usually next to the file: importable here and in the load, after every
        # other entry, so a module there named like a real one (json.py, locust.py) never shadows it
        here = str(c.path.parent.resolve())
        if here not in sys.path:
            sys.path.append(here)
        try:
            split_spec(protocol)
        except ValueError as e:
            c.fail("protocol", str(e))
    return c


def probe_addresses(node_id: str, addr: Addr) -> NodeAddresses:
    """A node of an external cluster: only its client address is known."""
    return NodeAddresses(id=node_id, host=addr.host, client=addr, peer=addr, dial={}, cluster={node_id: addr},
                         clients={node_id: addr}, data_dir="")
