"""ssh: each node is a process on its own remote host, driven over SSH (paramiko).

Options (`nemesis.backends.create("ssh", workdir, **options)`; the suite passes
`RunConfig.backend_options` through):

    hosts        one `user@host[:port]` per node, in node order (list, or a
                 comma-separated string). The node listens on that host's address.
    key_file     private key for every host (key auth only: no agent, no passwords)
    known_hosts  an OpenSSH known_hosts file holding every host's key; unknown or
                 changed host keys are refused (RejectPolicy), never learned
    remote_dir   the parent, on each host, of the node's own directory (its data,
                 pid file and log): a new `mktemp -d` there, private to the SSH user
                 and named unguessably, so another user of the host cannot own or
                 plant it (default the host's $TMPDIR or /tmp; removed at teardown,
                 after the node logs were copied to <workdir>/<node>/node.log)
    python       the interpreter on the hosts (NodeAddresses.python; default: the
                 suite's own path, right when hosts share this machine's layout)
    client_port, peer_port   defaults 8000 and 9000
    clock_control  preload libfaketime on the hosts (Debian `faketime` there)

A node runs as `setsid sh -c 'echo $$ > pid; exec ARGV'` under nohup, so its
pid is its process group: stop/kill/pause/resume signal the group (SIGTERM,
SIGKILL, SIGSTOP, SIGCONT). Cuts and loss are iptables rules on the receiving
host, in chains named after the run (hosts may be shared by several runs), so
they need root or passwordless sudo there; teardown removes the chains. One node
per host: a cut drops traffic by the sender host's address.
"""
from __future__ import annotations

import dataclasses
import os
import pathlib
import shlex
import sys
import threading
import time
from typing import Sequence

from .. import clock, iptables
from ..types import Addr, ExecResult, NodeAddresses, NodeSpec, check_env_names
from .host import RUN_ENV, BackendError, new_run_id

CLIENT_PORT = 8000
PEER_PORT = 9000


@dataclasses.dataclass(frozen=True)
class HostSpec:
    user: str
    host: str
    port: int = 22

    @classmethod
    def parse(cls, text: str) -> "HostSpec":
        user, at, rest = text.strip().rpartition("@")
        if not at or not user or not rest:
            raise ValueError(f"ssh host {text!r}: expected user@host[:port]")
        host, colon, port = rest.rpartition(":")
        if not colon:
            host, port = rest, "22"
        host = host.strip("[]")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"ssh host {text!r}: expected user@host[:port]")
        return cls(user, host, int(port))


def parse_hosts(hosts) -> list[HostSpec]:
    if isinstance(hosts, str):
        hosts = [h for h in hosts.split(",") if h.strip()]
    if not hosts:
        raise ValueError("the ssh backend needs hosts=[user@host[:port], ...], one per node")
    return [HostSpec.parse(h) for h in hosts]


class Remote:
    """One SSH connection, reopened when it dropped; one command at a time."""

    def __init__(self, spec: HostSpec, key_file: str, known_hosts: str, timeout: float):
        self.spec, self.key_file, self.known_hosts, self.timeout = spec, key_file, known_hosts, timeout
        self.lock = threading.Lock()
        self.client = None
        self.sudo = ""

    def _connect(self):
        import paramiko
        c = paramiko.SSHClient()
        c.load_host_keys(self.known_hosts)
        c.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            c.connect(self.spec.host, self.spec.port, username=self.spec.user, key_filename=self.key_file,
                      timeout=self.timeout, banner_timeout=self.timeout, auth_timeout=self.timeout,
                      allow_agent=False, look_for_keys=False)
        except (paramiko.SSHException, OSError) as e:
            c.close()
            raise BackendError(f"ssh {self.spec.user}@{self.spec.host}:{self.spec.port}: "
                               f"{type(e).__name__}: {e}") from None
        return c

    def _live(self):
        t = self.client.get_transport() if self.client else None
        if t is None or not t.is_active():
            if self.client:
                self.client.close()
            self.client = self._connect()
        return self.client

    def run(self, script: str, timeout: float = 30.0, root: bool = False) -> ExecResult:
        if root and self.sudo:
            script = f"{self.sudo} sh -c {shlex.quote(script)}"
        with self.lock:
            client = self._live()
            try:
                _, out, err = client.exec_command(script, timeout=timeout)
                stdout = out.read().decode(errors="replace")
                stderr = err.read().decode(errors="replace")
                code = out.channel.recv_exit_status()
            except OSError as e:  # socket.timeout included
                raise BackendError(f"{self.spec.host}: `{script[:80]}`: {e or 'timed out'}") from None
        return ExecResult(code, stdout, stderr)

    def check(self, script: str, timeout: float = 30.0, root: bool = False) -> str:
        r = self.run(script, timeout, root)
        if r.returncode != 0:
            raise BackendError(f"{self.spec.host}: {(r.stderr or r.stdout).strip() or r.returncode}")
        return r.stdout

    def put_text(self, path: str, text: str) -> None:
        """Write a file atomically (readers never see half of it)."""
        with self.lock:
            sftp = self._live().open_sftp()
            try:
                with sftp.open(path + ".tmp", "w") as f:
                    f.write(text)
                sftp.posix_rename(path + ".tmp", path)
            finally:
                sftp.close()

    def get(self, remote: str, local: str) -> bool:
        with self.lock:
            sftp = self._live().open_sftp()
            try:
                sftp.get(remote, local)
                return True
            except FileNotFoundError:
                return False
            finally:
                sftp.close()

    def close(self) -> None:
        if self.client:
            self.client.close()
            self.client = None


class SshBackend:
    name = "ssh"

    def __init__(self, workdir, run_id=None, *, hosts=(), key_file: str | None = None,
                 known_hosts: str | None = None, remote_dir: str | None = None, python: str = sys.executable,
                 client_port: int = CLIENT_PORT, peer_port: int = PEER_PORT, clock_control: bool = False,
                 connect_timeout: float = 10.0):
        self.hosts = parse_hosts(hosts)
        self.max_nodes = len(self.hosts)  # one node per host
        for what, path in (("key_file", key_file), ("known_hosts", known_hosts)):
            if not path or not os.path.isfile(path):
                raise ValueError(f"the ssh backend needs {what}=<an existing file>, got {path!r}")
        self.workdir = pathlib.Path(workdir).resolve()
        self.run_id = run_id or new_run_id()
        self.remote_parent = remote_dir
        self.key_file, self.known_hosts = key_file, known_hosts
        self.dirs: dict[str, str] = {}  # node -> its private directory on its host
        self.python = python
        self.ports = (client_port, peer_port)
        self.clock_control = clock_control
        self.cut_chain, self.loss_chain = iptables.run_chains(self.run_id)
        self.remotes = [Remote(h, key_file, known_hosts, connect_timeout) for h in self.hosts]
        self.specs: dict[str, NodeSpec] = {}
        self.addrs: dict[str, NodeAddresses] = {}
        self.remote: dict[str, Remote] = {}
        self.libfaketime: dict[str, str] = {}
        self.chains_on: set[str] = set()
        self.cuts: set[tuple[str, str]] = set()
        self.losses: dict[str, dict[str, float]] = {}
        if clock_control:
            self.set_clock = self._set_clock

    def leftovers(self) -> dict:
        """How `nemesis.sweep.sweep_ssh` reaches what this run makes on its hosts, should it be killed."""
        return {"ssh": {"hosts": [f"{h.user}@{h.host}:{h.port}" for h in self.hosts], "key_file": self.key_file,
                        "known_hosts": self.known_hosts, "dirs": dict(self.dirs)}}

    # -- layout -----------------------------------------------------------------------------

    def nodes(self) -> list[str]:
        return list(self.specs)

    def addresses(self, node: str) -> NodeAddresses:
        return self.addrs[node]

    def _dir(self, node: str) -> str:
        return self.dirs[node]

    def _make_dir(self, r: Remote) -> str:
        template = f"splitbrain-{self.run_id}.XXXXXXXX"
        parent = shlex.quote(self.remote_parent) if self.remote_parent else '"${TMPDIR:-/tmp}"'
        made = r.check(f"mkdir -p {parent} && mktemp -d {parent}/{shlex.quote(template)}").strip()
        if not made.startswith("/") or "\n" in made:
            raise BackendError(f"{r.spec.host}: mktemp -d answered {made!r}")
        return made

    def setup(self, specs: Sequence[NodeSpec]) -> dict[str, NodeAddresses]:
        if len({s.id for s in specs}) != len(specs):
            raise ValueError("node ids must be unique")
        if len(specs) > len(self.hosts):
            raise ValueError(f"the ssh backend runs one node per host: {len(specs)} nodes, "
                             f"{len(self.hosts)} hosts")
        for s in specs:
            check_env_names(s.env)
        self.workdir.mkdir(parents=True, exist_ok=True)
        for s, r in zip(specs, self.remotes):
            self.specs[s.id] = s
            self.remote[s.id] = r
        cport, pport = self.ports
        clients = {s.id: Addr(self.remote[s.id].spec.host, s.client_port or cport) for s in specs}
        peers = {s.id: Addr(self.remote[s.id].spec.host, s.peer_port or pport) for s in specs}
        for s in specs:
            r = self.remote[s.id]
            if r.spec.user != "root":
                r.sudo = "sudo -n"
            self.dirs[s.id] = self._make_dir(r)
            data = s.data_dir if s.data_dir.startswith("/") else f"{self._dir(s.id)}/{s.data_dir}"
            r.check(f"mkdir -p {shlex.quote(data)}")
            if self.clock_control:
                self._find_libfaketime(s.id)
            self.addrs[s.id] = NodeAddresses(
                id=s.id, host=r.spec.host, client=clients[s.id], peer=peers[s.id], dial=dict(peers),
                cluster=dict(peers), clients=dict(clients), data_dir=data,
                log_path=f"{self._dir(s.id)}/node.log", python=self.python)
        for s in specs:
            self._ensure_chains(s.id)
        return dict(self.addrs)

    def _find_libfaketime(self, node: str) -> None:
        tests = " || ".join(f"{{ test -e {p} && echo {p}; }}" for p in clock.LIBFAKETIME_CANDIDATES)
        found = self.remote[node].run(tests).stdout.strip().splitlines()
        if not found:
            raise BackendError(f"clock control needs libfaketime on {self.remote[node].spec.host} "
                               f"(Debian package 'faketime')")
        self.libfaketime[node] = found[0]
        self.remote[node].put_text(self._clock_file(node), clock.spec(0.0, 1.0))

    def _clock_file(self, node: str) -> str:
        return f"{self._dir(node)}/faketime.rc"

    # -- processes --------------------------------------------------------------------------

    def _env(self, node: str) -> str:
        """The node's environment as a shell file to source: one NAME='value' line each. It goes to the
        host over SFTP into the node's private directory, so values (the reference KV's admin token) never
        sit on a command line, where any user of the host could read them in /proc."""
        env = dict(self.specs[node].env)
        env[RUN_ENV] = self.run_id
        if node in self.libfaketime:
            env.update(clock.environment(self.libfaketime[node], self._clock_file(node)))
        check_env_names(env)
        return "".join(f"{k}={shlex.quote(str(v))}\n" for k, v in env.items())

    def _with_env(self, node: str) -> str:
        """Writes the environment file; -> the shell words that load it before a command."""
        path = f"{self._dir(node)}/node.env"
        self.remote[node].put_text(path, self._env(node))
        return f"set -a; . {shlex.quote(path)}; set +a;"

    def _pid_file(self, node: str) -> str:
        return f"{self._dir(node)}/pid"

    def _alive_test(self, node: str) -> str:
        # alive = the pid file names a process that is not a zombie (state after the last ')')
        return (f"p=$(cat {shlex.quote(self._pid_file(node))} 2>/dev/null) && [ -n \"$p\" ] && "
                f"s=$(cat /proc/$p/stat 2>/dev/null) && s=${{s##*) }} && [ \"${{s%% *}}\" != Z ]")

    def is_running(self, node: str) -> bool:
        return self.remote[node].run(self._alive_test(node)).returncode == 0

    def start(self, node: str) -> None:
        if self.is_running(node):
            return
        argv = shlex.join(str(a) for a in self.specs[node].argv(self.addrs[node]))
        d = shlex.quote(self._dir(node))
        inner = f"echo $$ > {shlex.quote(self._pid_file(node))}; {self._with_env(node)} exec {argv}"
        # `&` must background the node alone: a backgrounded `a && b` list is a subshell that
        # holds the session's stdout, and the SSH command would never end
        script = (f"cd {d} && rm -f pid || exit 1; nohup setsid sh -c {shlex.quote(inner)} >> node.log 2>&1 "
                  f"< /dev/null & "
                  # the pid file is written by the child: wait for it so stop/kill can find the node
                  f"i=0; while [ ! -s {d}/pid ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; "
                  f"test -s {d}/pid")
        self.remote[node].check(script)

    def _signal(self, node: str, sig: str) -> bool:
        r = self.remote[node].run(f"{self._alive_test(node)} && kill -{sig} -- -$p")
        return r.returncode == 0

    def stop(self, node: str, timeout: float = 10.0) -> None:
        if self._signal(node, "TERM"):
            self._signal(node, "CONT")
            end = time.monotonic() + timeout
            while self.is_running(node) and time.monotonic() < end:
                time.sleep(0.1)
        self.kill(node)

    def kill(self, node: str) -> None:
        # the whole group: children that outlived the node still hold ports and files
        self.remote[node].run(f"p=$(cat {shlex.quote(self._pid_file(node))} 2>/dev/null) && "
                              f"[ -n \"$p\" ] && kill -KILL -- -$p 2>/dev/null; "
                              f"i=0; while ({self._alive_test(node)}) && [ $i -lt 100 ]; do "
                              f"sleep 0.05; i=$((i+1)); done; true")

    def pause(self, node: str) -> None:
        self._signal(node, "STOP")

    def resume(self, node: str) -> None:
        self._signal(node, "CONT")

    def exec(self, node: str, argv: Sequence[str], timeout: float = 30.0) -> ExecResult:
        return self.remote[node].run(f"cd {shlex.quote(self._dir(node))} && {self._with_env(node)} "
                                     f"{shlex.join(str(a) for a in argv)}", timeout)

    def collect_logs(self, dest_dir: str) -> list[str]:
        out = []
        for node in self.addrs:  # the nodes whose setup got as far as a directory
            dest = pathlib.Path(dest_dir) / node
            dest.mkdir(parents=True, exist_ok=True)
            if self.remote[node].get(self.addrs[node].log_path, str(dest / "node.log")):
                out.append(str(dest / "node.log"))
        return out

    # -- clock ------------------------------------------------------------------------------

    def _set_clock(self, node: str, offset: float, rate: float = 1.0) -> None:
        self.remote[node].put_text(self._clock_file(node), clock.spec(offset, rate))

    # -- links ------------------------------------------------------------------------------

    def _root(self, node: str, cmds: list[list[str]], tolerate: tuple[int, ...] = ()) -> None:
        self.remote[node].check(iptables.shell(cmds, tolerate), root=True)

    def _ensure_chains(self, node: str) -> None:
        if node not in self.chains_on:
            self._root(node, iptables.init_chains(self.cut_chain, self.loss_chain))
            self.chains_on.add(node)

    def _ip(self, node: str) -> str:
        return self.addrs[node].host

    def _check(self, src: str, dst: str) -> None:
        if src == dst or src not in self.specs or dst not in self.specs:
            raise ValueError(f"no link {src}->{dst}")

    def cut(self, src: str, dst: str) -> None:
        self._check(src, dst)
        if (src, dst) not in self.cuts:
            self._root(dst, [iptables.cut(self._ip(src), self.cut_chain)])
            self.cuts.add((src, dst))

    def restore(self, src: str, dst: str) -> None:
        self._check(src, dst)
        if (src, dst) in self.cuts:
            self._root(dst, [iptables.uncut(self._ip(src), self.cut_chain)])
            self.cuts.discard((src, dst))

    def restore_all(self) -> None:
        for node in self.specs:
            self._root(node, [iptables.flush(self.cut_chain)])
        self.cuts.clear()

    def set_loss(self, src: str, dst: str, probability: float) -> None:
        self._check(src, dst)
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"loss probability must be in [0, 1], got {probability}")
        self.losses.setdefault(dst, {})[self._ip(src)] = probability
        self._root(dst, iptables.loss_rules(self.losses[dst], self.loss_chain))

    def reset_links(self) -> None:
        self.restore_all()
        for node in self.specs:
            self._root(node, [iptables.flush(self.loss_chain)])
        self.losses.clear()

    # -- teardown ---------------------------------------------------------------------------

    def teardown(self) -> None:
        errors = []

        def attempt(node, fn):
            try:
                fn()
            except Exception as e:  # keep tearing down the rest
                errors.append(f"{node}: {e}")

        undo = iptables.remove_chains(self.cut_chain, self.loss_chain)
        for node in self.specs:
            attempt(node, lambda: self.kill(node))
        for node in list(self.chains_on):
            attempt(node, lambda: self.remote[node].run(iptables.shell(undo, tuple(range(len(undo)))),
                                                        root=True))
        self.chains_on.clear()
        attempt("logs", lambda: self.collect_logs(str(self.workdir)))  # before the node dirs go
        for node, d in self.dirs.items():
            attempt(node, lambda: self.remote[node].run(f"rm -rf {shlex.quote(d)}"))
        for r in self.remotes:
            r.close()
        if errors:
            raise BackendError("teardown: " + "; ".join(errors))
