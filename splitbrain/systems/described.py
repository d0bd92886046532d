"""A system described by a TOML file, for systems that are not Python. Every key is in
docs/testing-your-system.md ("Every key of a system file"); in short:

    name = "my-kv"                       # optional, default: the file name
    nodes = 1                            # optional: the system runs exactly this many nodes

    [node]
    command = "{here}/mykv --port {port} --admin {admin_port} --data {data_dir}"   # or a list of arguments
    env = { MYKV_ID = "{id}" }
    cluster_entry = "{id}={host}:{peer_port}"   # one element of {cluster} (every node's own peer address)
    peer_entry = "{id}={host}:{port}"           # one element of {peers} (the address THIS node dials)
    per_link_dial = false          # true if nodes dial peers only through {peers} (local per-link proxies)
    faketime = true                # false if the program cannot run under libfaketime (no clock faults)
    [node.ports]                   # named extra ports, the same number on every node (each has its own address)
    admin = 7070

    [ready]                        # probe = "tcp" (default) | "http" (url, optional field = value) | "redis"
    probe = "http"
    url = "http://{host}:{port}/health"

    [leader]                       # optional; probe = "http" | "command" | "redis"
    url = "http://{host}:{port}/status"
    field = "leader"               # JSON field naming the leader
    self = "id"                    # JSON field naming this node (default: its node id)
    term = "term"                  # optional JSON field with the term (self_url, term_url: from elsewhere)
    transfer = "mykvctl leader transfer {id}"   # optional: the leader-transfer fault

    [membership]                   # optional: the membership fault
    remove = "mykvctl member remove {id}"
    add = "mykvctl member add {id} {host}:{peer_port}"

    [client]                       # protocol = reference-kv | etcd | redis | http-json | process | python:module:Class
    protocol = "http-json"         # other keys are the client's options (see workloads.clients)

Command placeholders: {id} {host} {port} {peer_port} {NAME_port} {peers} {cluster} {data_dir}
{python} {here} {nodes} {majority} {first_host} {first_port} {first_peer_port}
{client_addresses} {peer_addresses}. Probes: {id} {host} {port} {peer_port} {NAME_port}.
Admin commands: those, {data_dir} {here} {python} {client_addresses} {peer_addresses}
{leader} {leader_host} {leader_port}. Client option strings: {client_addresses}
{peer_addresses} {here} {python}.

Every mistake is a `SystemFileError` naming the key and what was expected.
"""
from __future__ import annotations

import dataclasses
import http.client
import json
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
from splitbrain.systems.base import GO_CLOCK, go_program
from splitbrain.systems.template import TemplateError, names, render
from workloads.clients import PROTOCOLS

NODE_PLACEHOLDERS = ("id", "host", "port", "peer_port", "peers", "cluster", "data_dir", "python", "here",
                     "nodes", "majority", "first_host", "first_port", "first_peer_port", "client_addresses",
                     "peer_addresses")
PROBE_PLACEHOLDERS = ("id", "host", "port", "peer_port")
CLIENT_PLACEHOLDERS = ("client_addresses", "peer_addresses", "here", "python")
# Admin commands (membership, leader transfer) run on the suite's machine: the node they are about,
# the cluster, and the current leader.
ADMIN_PLACEHOLDERS = PROBE_PLACEHOLDERS + ("data_dir", "here", "python", "client_addresses", "peer_addresses",
                                          "leader", "leader_host", "leader_port")
TOP_KEYS = {"name", "nodes", "node", "ready", "leader", "membership", "client"}
NODE_KEYS = {"command", "env", "cluster_entry", "peer_entry", "per_link_dial", "data_dir", "client_port",
             "peer_port", "ports", "faketime"}
READY_KEYS = {"probe", "url", "timeout", "field", "value"}
LEADER_KEYS = {"probe", "url", "method", "body", "field", "self", "term", "self_url", "term_url", "command",
               "period", "transfer"}
MEMBERSHIP_KEYS = {"remove", "add", "timeout"}
PROBE_PERIOD = {"command": 0.2}  # a probe that starts a process every round costs more: sampled less often
ADMIN_TIMEOUT = 30.0


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
    ports: dict[str, int] = dataclasses.field(default_factory=dict)  # [node.ports]: name -> port on each node
    ready_field: str | None = None  # [ready] field: a JSON field of the http probe's answer ...
    ready_value: Any = None  # ... equal to this (None: true-ish)
    membership: dict | None = None  # [membership]: remove and add commands, their timeout
    faketime: bool = True  # [node] faketime: false when the program cannot run under libfaketime
    # each node's probe's last answer (or why it had none), for "no leader was agreed on"
    answers: dict[str, str] = dataclasses.field(default_factory=dict, repr=False)

    read_modes = ()
    stale_read_modes = ()
    options = ()

    @property
    def has_leader(self) -> bool:
        return self.leader is not None

    @property
    def clock_faults_unreachable(self) -> str | None:
        if not self.faketime:
            return f"{self.name}'s system file says its nodes cannot run under libfaketime ([node] faketime = false)"
        exe = shutil.which(self.command[0].replace("{here}", self.here))
        if exe and go_program(exe):
            return f"{self.name}'s {os.path.basename(exe)}: {GO_CLOCK}"
        return None

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
            **self._port_values(),
        }

    def _port_values(self) -> dict[str, int]:
        """{name}_port of every [node.ports] entry: each node has its own address on every backend, so
        a named port is the same number on each."""
        return {f"{name}_port": port for name, port in self.ports.items()}

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

    def _probe_values(self, node: NodeAddresses) -> dict[str, object]:
        return {"id": node.id, "host": node.client.host, "port": node.client.port, "peer_port": node.peer.port,
                **self._port_values()}

    def ready(self, node: NodeAddresses, timeout: float) -> bool:
        if self.ready_probe == "http":
            return probes.http_ready(render(self.ready_url, self._probe_values(node)), timeout, self.ready_field,
                                     self.ready_value)
        if self.ready_probe == "redis":
            return probes.redis_ready(node.client, timeout)
        return probes.tcp_ready(node.client, timeout)

    @property
    def probe_period(self) -> float | None:
        """Seconds between the monitor's rounds, when this probe wants its own (None: the monitor's)."""
        return self.leader.get("period") if self.leader else None

    def status(self, node: NodeAddresses, timeout: float) -> dict | None:
        lead = self.leader
        if lead is None:
            return {"role": "up"} if self.ready(node, timeout) else None
        if lead["probe"] == "redis":
            return probes.redis_role(node.client, timeout)
        values = self._probe_values(node)
        try:
            if lead["probe"] == "command":
                reply = probes.command_json([render(part, values) for part in lead["command"]], timeout)
                replies = {"leader": reply, "self": reply, "term": reply}
            else:
                fetched: dict[str, dict] = {}  # one request per distinct URL

                def answer(url):
                    url = render(url, values)
                    if url not in fetched:
                        fetched[url] = probes.http_json(url, lead["method"], lead["body"], timeout)
                    return fetched[url]

                main = answer(lead["url"])
                replies = {"leader": main, "self": answer(lead["self_url"]) if lead["self_url"] else main,
                           "term": answer(lead["term_url"]) if lead["term_url"] else main}
        except (OSError, ValueError, http.client.HTTPException) as e:
            self.answers[node.id] = f"no answer ({type(e).__name__}: {e})" if not isinstance(e, probes.ProbeAnswer) \
                else str(e)
            return None
        st = probes.leader_status(replies, lead["field"], node.id, lead["self"], lead["term"])
        said = probes.short(json.dumps(replies["leader"]))
        missing = [lead[k] for k, r in (("field", "leader"), ("self", "self"), ("term", "term"))
                   if lead[k] and not probes.has_field(replies[r], lead[k])]
        self.answers[node.id] = f"{said} (no {', '.join(missing)} in it)" if missing else said
        return st

    def last_answer(self, node_id: str) -> str | None:
        """What node_id's probe last answered (its JSON), or why it had no answer."""
        return self.answers.get(node_id)

    # -- admin: membership and leader transfer, through commands in the file -------------------

    @property
    def admin_actions(self) -> frozenset[str]:
        acts = set()
        if self.membership:
            acts |= {"remove_member", "add_member"}
        if self.leader and self.leader.get("transfer"):
            acts.add("transfer_leader")
        return frozenset(acts)

    def admin(self, action: str, nodes: Mapping[str, NodeAddresses], leader: str | None, target: str) -> None:
        """Runs the file's command for `action` about node `target`; RuntimeError with its output if it fails."""
        argv = {"remove_member": (self.membership or {}).get("remove"),
                "add_member": (self.membership or {}).get("add"),
                "transfer_leader": (self.leader or {}).get("transfer")}[action]
        a = nodes[target]
        values = {**self._probe_values(a), "data_dir": a.data_dir, "here": self.here, "python": sys.executable,
                  "client_addresses": ",".join(str(n.client) for n in nodes.values()),
                  "peer_addresses": ",".join(str(n.peer) for n in nodes.values()),
                  "leader": leader, "leader_host": nodes[leader].client.host if leader in nodes else None,
                  "leader_port": nodes[leader].client.port if leader in nodes else None}
        what = f"{action.replace('_', ' ')} of node {target}"
        try:
            cmd = [render(part, values) for part in argv]
        except TemplateError as e:  # {leader} while no leader is agreed on
            raise RuntimeError(f"{what}: {e}") from None
        try:
            probes.run_command(cmd, (self.membership or {}).get("timeout", ADMIN_TIMEOUT), cwd=self.here)
        except probes.ProbeAnswer as e:
            raise RuntimeError(f"{what}: {e}") from None

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
    named = node.get("ports", dict, {}, "a table of name = port number")  # names and ports checked below
    node_ports = tuple(f"{name}_port" for name in named if isinstance(name, str))
    for part in command:
        node.template("command", part, NODE_PLACEHOLDERS + node_ports)
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
    for name, port in named.items():
        if not name.isidentifier() or f"{name}_port" in NODE_PLACEHOLDERS:
            node.fail(f"ports.{name}", "expected a name of letters, digits and _ (the command says {"
                      f"{name}_port}}), other than client and peer")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            node.fail(f"ports.{name}", f"expected a port number from 1 to 65535, got {port!r} (each node has its "
                      f"own address, so every node listens on the same number)")
    port_names = tuple(f"{name}_port" for name in named)

    ready = top.table_of("ready", READY_KEYS) or _Reader(p, {}, "ready.", None)
    ready_probe = ready.get("probe", str, "tcp")
    if ready_probe not in ("tcp", "http", "redis"):
        ready.fail("probe", f"expected tcp, http or redis, got {ready_probe!r}")
    ready_url = None
    if ready_probe == "http":
        ready_url = ready.template("url", ready.get("url", str, expected="a URL like http://{host}:{port}/health"),
                                   PROBE_PLACEHOLDERS + port_names)
    ready_field = ready.get("field", str, None, "a (dotted) JSON field of the answer")
    if ready_field is not None and ready_probe != "http":
        ready.fail("field", "only the http probe answers with JSON")
    ready_value = ready.get("value", (str, int, float, bool), None, "the field's value when ready")
    if ready_value is not None and ready_field is None:
        ready.fail("value", "needs field (the JSON field that must have this value)")
    ready_timeout = float(ready.value("timeout", values.SECONDS, 60.0))

    leader = None
    lr = top.table_of("leader", LEADER_KEYS)
    probe_keys = PROBE_PLACEHOLDERS + port_names
    if lr is not None:
        probe = lr.get("probe", str, "command" if "command" in lr.table else "http")
        if probe not in ("http", "command", "redis"):
            lr.fail("probe", f"expected http, command or redis, got {probe!r}")
        leader = {"probe": probe, "period": lr.value("period", values.seconds(high=60.0), PROBE_PERIOD.get(probe)),
                  "transfer": _command(lr, "transfer", ADMIN_PLACEHOLDERS + port_names, None)}
        if probe in ("http", "command"):
            leader.update(field=lr.get("field", str, expected="the JSON field naming the leader"),
                          self=lr.get("self", str, None), term=lr.get("term", str, None))
        if probe == "http":
            method = lr.get("method", str, "GET").upper()
            if method not in ("GET", "POST"):
                lr.fail("method", f"expected GET or POST, got {method!r}")
            leader.update(url=lr.template("url", lr.get("url", str, expected="a URL"), probe_keys),
                          method=method, body=lr.get("body", str, None),
                          self_url=_url(lr, "self_url", probe_keys), term_url=_url(lr, "term_url", probe_keys))
            if leader["self_url"] and not leader["self"]:
                lr.fail("self_url", "needs self (the field of its answer naming the node)")
            if leader["term_url"] and not leader["term"]:
                lr.fail("term_url", "needs term (the field of its answer holding the term)")
        elif probe == "command":
            leader["command"] = _command(lr, "command", probe_keys, ...)
        for key in ("url", "method", "body", "self_url", "term_url", "command"):
            if key in lr.table and key not in leader:
                lr.fail(key, f"does not apply to the {probe} probe")

    membership = None
    mr = top.table_of("membership", MEMBERSHIP_KEYS)
    if mr is not None:
        admin_keys = ADMIN_PLACEHOLDERS + port_names
        membership = {"remove": _command(mr, "remove", admin_keys, ...), "add": _command(mr, "add", admin_keys, ...),
                      "timeout": mr.value("timeout", values.seconds(high=3600.0), ADMIN_TIMEOUT)}

    client = _client(top.table_of("client", None, required=True))
    return Described(
        name=name, path=p, command=list(command), env=dict(env), cluster_entry=cluster_entry,
        peer_entry=peer_entry, per_link_dial=node.get("per_link_dial", bool, False, "true or false"),
        data_dir=node.get("data_dir", str, "data"), client_port=ports["client_port"],
        peer_port=ports["peer_port"], ready_probe=ready_probe, ready_url=ready_url,
        ready_timeout=ready_timeout, leader=leader, client=dict(client.table), fixed_nodes=fixed, ports=dict(named),
        ready_field=ready_field, ready_value=ready_value, membership=membership,
        faketime=node.get("faketime", bool, True, "true or false"))


def _url(r: _Reader, key: str, allowed) -> str | None:
    text = r.get(key, str, None, "a URL")
    return None if text is None else r.template(key, text, allowed)


def _command(r: _Reader, key: str, allowed, default) -> list[str] | None:
    """A command (shell words or a list of arguments) whose placeholders are among `allowed`."""
    command = r.get(key, (str, list), default, "a command: a string or a list of strings")
    if command is None:
        return None
    if isinstance(command, str):
        try:
            command = shlex.split(command)
        except ValueError as e:
            r.fail(key, f"expected shell words ({e})")
    if not command or not all(isinstance(c, str) for c in command):
        r.fail(key, "expected a non-empty string or list of strings")
    for part in command:
        r.template(key, part, allowed)
    return list(command)


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
