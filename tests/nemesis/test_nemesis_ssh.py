"""The ssh backend against real sshd daemons, one per network namespace, running a 3-node
reference KV: every node is a process an SSH session started inside its "host"'s namespace,
so iptables there cuts its traffic. The namespaces themselves come from the netns backend
(its "nodes" are the sshd daemons); hosts share this filesystem, so the venv is there too."""
from __future__ import annotations

import contextlib
import os
import pathlib
import socket
import stat
import subprocess

import pytest

from kv_helpers import (
    isolate_leader, kill_leader, kv_context, kv_specs, pause_leader, reference_kv_missing, running_kv, status,
)
from nemesis.backends.netns import NetnsBackend, missing_requirements
from nemesis.backends.ssh import SshBackend
from nemesis.types import NodeSpec, capabilities
from nemesis_helpers import run_id, wait_until
from system_parts import require

pytestmark = [pytest.mark.integration, pytest.mark.root]
SSHD = "/usr/sbin/sshd"
if missing_requirements():
    pytest.skip(missing_requirements(), allow_module_level=True)
require("sshd")
if reference_kv_missing():
    pytest.skip(reference_kv_missing(), allow_module_level=True)

SSHD_CONFIG = """\
Port 22
HostKey {d}/host_key
AuthorizedKeysFile {d}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
Subsystem sftp internal-sftp
LogLevel ERROR
"""


def keygen(path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return (path.parent / (path.name + ".pub")).read_text().strip()


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    """Three sshd "hosts"; yields (host strings, key file, known_hosts, a rid prefix)."""
    d = tmp_path_factory.mktemp("sshd")
    host_pub = keygen(d / "host_key")
    (d / "authorized_keys").write_text(keygen(d / "user_key") + "\n")
    (d / "sshd_config").write_text(SSHD_CONFIG.format(d=d))
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    rid = run_id()
    net = NetnsBackend(d / rid, rid)
    try:
        net.setup([NodeSpec(id=f"h{i}", argv=lambda a: [SSHD, "-D", "-e", "-f", str(d / "sshd_config")],
                            client_port=22) for i in (1, 2, 3)])
        ips = [net.addresses(h).host for h in net.nodes()]
        known = d / "known_hosts"
        known.write_text("".join(f"{ip} {host_pub}\n" for ip in ips))
        for h in net.nodes():
            net.start(h)
        for ip in ips:
            wait_until(lambda: _listens(ip, 22), timeout=10, what=f"sshd on {ip}")
        yield [f"root@{ip}:22" for ip in ips], str(d / "user_key"), str(known), d
    finally:
        net.teardown()


@pytest.fixture(scope="module")
def kv(hosts, tmp_path_factory):
    host_list, key, known, d = hosts
    rid = run_id()
    work = tmp_path_factory.mktemp("ssh") / rid
    b = SshBackend(work, rid, hosts=",".join(host_list), key_file=key, known_hosts=known,
                   remote_dir=str(work / "remote"), clock_control=True)
    try:
        wait_until(lambda: _connects(b), timeout=10, what="sshd accepting connections")
    except BaseException:
        b.teardown()
        raise
    with running_kv(b, kv_specs(3), timeout=30):
        yield b
    # nothing of the run is left on the hosts: no processes, no chains, no node dirs; logs are here
    assert not any((work / "remote").iterdir())
    assert (work / "1" / "node.log").exists()
    from nemesis.sweep import processes
    assert not processes(rid)
    for h in hosts[0]:
        ip = h.split("@")[1].split(":")[0]
        ns = [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
              if n.endswith(f"-h{host_list.index(h) + 1}")]
        rules = subprocess.run(["ip", "netns", "exec", ns[0], "iptables", "-S"], capture_output=True,
                               text=True).stdout
        assert rid not in rules, f"chains left on {ip}"


def _listens(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def _connects(b) -> bool:
    try:
        for r in b.remotes:
            r.check("true", timeout=5)
        return True
    except Exception:
        return False


@pytest.fixture
def ctx(kv):
    return kv_context(kv, seed=5)


def test_unknown_host_key_is_refused(hosts, tmp_path):
    host_list, key, _, _ = hosts
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    b = SshBackend(tmp_path / "w", run_id(), hosts=host_list[:1], key_file=key, known_hosts=str(empty))
    with pytest.raises(RuntimeError, match="not found in known_hosts|known_hosts"):
        b.remotes[0].check("true")
    b.teardown()


def test_nodes_run_in_their_hosts_namespaces(ctx):
    b = ctx.backend
    assert set(capabilities(b)) >= {"Killable", "Pausable", "Partitionable", "Lossy", "ClockControl"}
    a = b.addresses("1")
    r = b.exec("1", ["ip", "-o", "-4", "addr", "show", "eth0"])
    assert r.returncode == 0 and a.host in r.stdout
    assert status(b, "1")["id"] in (1, "1")


def test_a_cut_isolates_the_leader(ctx):
    isolate_leader(ctx)


def test_kill_and_restart(ctx):
    kill_leader(ctx)


def test_pause_and_resume(ctx):
    pause_leader(ctx)


def test_clock_file_is_written_on_the_host(ctx):
    b = ctx.backend
    b.set_clock("2", 30.0, 1.0)
    r = b.exec("2", ["cat", "faketime.rc"])
    assert r.stdout.strip() == "+30.000 x1"
    b.set_clock("2", 0.0)


def test_logs_come_back_over_sftp(ctx, tmp_path):
    paths = ctx.backend.collect_logs(str(tmp_path / "logs"))
    assert len(paths) == 3 and all(os.path.exists(p) for p in paths)


def _one_node_backend(hosts, work, rid, env=None):
    host_list, key, known, _ = hosts
    b = SshBackend(work, rid, hosts=host_list[:1], key_file=key, known_hosts=known)
    wait_until(lambda: _connects(b), timeout=10, what="sshd accepting connections")
    return b, NodeSpec(id="1", argv=lambda a: ["sleep", "30"], env=env or {})


def test_env_keys_cannot_inject_shell_commands(hosts, tmp_path):
    """`[node] env` keys went into the remote shell command unquoted: `$(...)` in a key ran on the host."""
    marker = tmp_path / "injected"
    b, spec = _one_node_backend(hosts, tmp_path / "w", run_id(), env={f"X$(touch {marker})": "1", "OK": "$(id)"})
    try:
        with pytest.raises(ValueError, match="not a variable name"):
            b.setup([spec])
            b.start("1")
            b.exec("1", ["true"])
    finally:
        b.teardown()
    assert not marker.exists(), "an env key ran a command on the host"


def test_env_values_never_sit_on_a_command_line(hosts, tmp_path):
    """Values (the reference KV's admin token) went into the remote shell's command line, readable by any
    user of the host in /proc while the start waited for the pid file."""
    secret = "admin-token-" + run_id()
    b, spec = _one_node_backend(hosts, tmp_path / "w", run_id(), env={"SB_SECRET": secret})
    commands = []
    try:
        b.setup([spec])
        remote = b.remote["1"]
        for name in ("run", "check"):
            original = getattr(remote, name)
            setattr(remote, name, lambda cmd, *a, _f=original, **k: commands.append(cmd) or _f(cmd, *a, **k))
        b.start("1")
        r = b.exec("1", ["sh", "-c", 'printf %s "$SB_SECRET"'])
        assert r.returncode == 0 and r.stdout == secret, r  # the node and exec still get it
        pid = int(remote.check(f"cat {b._pid_file('1')}").strip())
        assert f"SB_SECRET={secret}".encode() in pathlib.Path(f"/proc/{pid}/environ").read_bytes()
    finally:
        b.teardown()
    assert commands and not [c for c in commands if secret in c], commands


def test_a_value_reaches_the_node_verbatim(hosts, tmp_path):
    b, spec = _one_node_backend(hosts, tmp_path / "w", run_id(), env={"SB_VALUE": "$(id) `id`; 'q' \"d\" *"})
    try:
        b.setup([spec])
        r = b.exec("1", ["sh", "-c", 'printf %s "$SB_VALUE"'])
        assert r.returncode == 0 and r.stdout == "$(id) `id`; 'q' \"d\" *", r
    finally:
        b.teardown()


def test_the_remote_directory_is_private_and_not_a_guessable_path(hosts, tmp_path):
    """Another local user who creates /tmp/splitbrain/<run id> first must get nothing of the run."""
    rid = run_id()
    trap = pathlib.Path("/tmp/splitbrain") / rid
    trap.mkdir(parents=True)
    os.chown(trap, 65534, 65534)  # nobody's
    b, spec = _one_node_backend(hosts, tmp_path / "w", rid)
    try:
        b.setup([spec])
        b.start("1")
        node_dir = pathlib.Path(b.addresses("1").log_path).parent
        st = os.stat(node_dir)
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o700), (node_dir, oct(st.st_mode))
        assert not node_dir.is_relative_to(trap) and not any(trap.iterdir()), list(trap.iterdir())
        assert (node_dir / "pid").exists()
    finally:
        b.teardown()
        trap.rmdir()
        with contextlib.suppress(OSError):
            trap.parent.rmdir()
    assert not node_dir.exists(), "teardown left the remote directory"


def test_sweep_removes_what_a_killed_run_left_on_its_hosts(hosts, tmp_path):
    """A suite killed mid-run never tears down: from what the run recorded (`leftovers()`),
    sweep_ssh resumes and kills its node (paused here), removes its chains and its directory."""
    from nemesis.sweep import processes, sweep_ssh
    from nemesis_helpers import SESSION_PREFIX

    rid = run_id()
    b, spec = _one_node_backend(hosts, tmp_path / "w", rid)
    host_ns = [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
               if n.startswith(SESSION_PREFIX) and n.endswith("-h1")]

    def chains():
        return rid in subprocess.run(["ip", "netns", "exec", host_ns[0], "iptables", "-S"], capture_output=True,
                                     text=True).stdout

    try:
        b.setup([spec])
        b.start("1")
        b.pause("1")
        rec = b.leftovers()["ssh"]
        node_dir = rec["dirs"]["1"]
        assert processes(rid) and os.path.isdir(node_dir) and chains()  # the hosts share this machine
        done = sweep_ssh(rid, **rec)
        assert "1 processes" in done[0], done
        assert not processes(rid) and not os.path.exists(node_dir) and not chains()
    finally:
        b.teardown()
