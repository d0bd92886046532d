"""Remove every leftover of runs whose id starts with a prefix: processes, mounts,
network namespaces, links, docker containers and networks. For crashed runs and
test sessions; a healthy run cleans up after itself in teardown()."""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess

from . import mounts, sockdir
from .backends.host import RUN_ENV


def processes(prefix: str) -> list[int]:
    want = f"{RUN_ENV}={prefix}".encode()
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if any(e.startswith(want) for e in env):
            out.append(int(pid))
    return out


def sweep(prefix: str, under: str | None = None) -> dict[str, list[str]]:
    """Everything named after run ids starting with `prefix`; with `under`, also every mount below
    that directory (a power-loss FUSE mount is named for what it is, not for its run)."""
    if len(prefix) < 3:
        raise ValueError("refusing to sweep with a prefix shorter than 3 characters")
    done: dict[str, list[str]] = {"processes": [], "mounts": [], "netns": [], "links": [], "docker": [],
                                  "sockets": []}
    for pid in processes(prefix):
        try:
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)
            done["processes"].append(str(pid))
        except ProcessLookupError:
            pass
    below = os.path.realpath(under) + os.sep if under else None
    for dev, m, _ in reversed(mounts.table()):
        # backends name their mounts' devices and work dirs after the run id
        if dev.startswith(prefix) or any(part.startswith(prefix) for part in m.split("/")) or (
                below and m.startswith(below)):
            subprocess.run(["umount", "-l", m], capture_output=True)
            done["mounts"].append(m)
    if shutil.which("ip"):
        ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split("\n")
        for line in ns:
            name = line.split(" ")[0]
            if name.startswith(prefix):
                subprocess.run(["ip", "netns", "del", name], capture_output=True)
                done["netns"].append(name)
        links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
        for line in links.splitlines():
            name = line.split(": ")[1].split("@")[0] if ": " in line else ""
            if name.startswith(prefix):
                subprocess.run(["ip", "link", "del", name], capture_output=True)
                done["links"].append(name)
        rules = subprocess.run(["iptables", "-w", "-S", "FORWARD"], capture_output=True, text=True).stdout
        for line in rules.splitlines():
            if line.startswith("-A ") and f"--comment {prefix}" in line:
                subprocess.run(["iptables", "-w", "-D", *line.split()[1:]], capture_output=True)
                done["links"].append(line)
    done["docker"] = _sweep_docker(prefix)
    done["sockets"] = _sweep_socket_dirs(prefix)
    return done


def _sweep_socket_dirs(prefix: str) -> list[str]:
    base = sockdir.base_dir()
    out = []
    for name in os.listdir(base):
        path = os.path.join(base, name)
        if name.startswith(prefix) and os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
            out.append(path)
    return out


def _sweep_docker(prefix: str) -> list[str]:
    if not os.path.exists("/var/run/docker.sock"):
        return []
    try:
        import docker
        client = docker.from_env(timeout=10)
        client.ping()
    except Exception:
        return []
    out = []
    try:
        for c in client.containers.list(all=True, filters={"label": "splitbrain.run"}):
            if c.labels.get("splitbrain.run", "").startswith(prefix):
                c.remove(force=True)
                out.append(c.name)
        for n in client.networks.list(filters={"label": "splitbrain.run"}):
            if n.attrs.get("Labels", {}).get("splitbrain.run", "").startswith(prefix):
                n.remove()
                out.append(n.name)
    finally:
        client.close()
    return out


def sweep_ssh(run_id: str, hosts, key_file: str, known_hosts: str, dirs: dict | None = None,
              timeout: float = 10.0) -> list[str]:
    """What a run's ssh backend left on its hosts: the processes carrying its run id (resumed, then
    killed), its iptables chains, the node directories it made. -> what went, host by host; a host
    that does not answer is named too."""
    from . import iptables
    from .backends.host import BackendError
    from .backends.ssh import Remote, parse_hosts

    want = f"{RUN_ENV}={run_id}"
    find = (f"for e in /proc/[0-9]*/environ; do {{ tr '\\0' '\\n' < $e; }} 2>/dev/null | grep -qx {shlex.quote(want)} "
            f"&& p=${{e#/proc/}} && echo ${{p%/environ}}; done")
    chains = iptables.remove_chains(*iptables.run_chains(run_id))
    out = []
    for i, spec in enumerate(parse_hosts(hosts)):
        r = Remote(spec, key_file, known_hosts, timeout)
        if spec.user != "root":
            r.sudo = "sudo -n"
        try:
            pids = [p for p in r.run(find, root=True).stdout.split() if p.isdigit()]
            if pids:
                r.run(f"kill -CONT {' '.join(pids)}; kill -KILL {' '.join(pids)}", root=True)
            r.run(iptables.shell(chains, tuple(range(len(chains)))), root=True)
            mine = [d for d in (dirs or {}).values() if isinstance(d, str) and f"splitbrain-{run_id}." in d]
            for d in mine:
                r.run(f"rm -rf {shlex.quote(d)}")
            out.append(f"{spec.host}: {len(pids)} processes, chains, {len(mine)} directories")
        except BackendError as e:
            out.append(f"{spec.host}: not reached ({e})")
        finally:
            r.close()
    return out
