"""Nodes as processes on this machine: what the local and netns backends share.

Each node runs in its own session (process group), so kill/pause/resume reach
every process it forks. Every process carries SPLITBRAIN_NEMESIS_RUN=<run id> in
its environment, which is how `nemesis.sweep` finds leftovers of a crashed run.
"""
from __future__ import annotations

import errno
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time
import uuid
from typing import Sequence

from .. import clock
from ..sockdir import SocketDir
from ..types import ExecResult, NodeAddresses, NodeSpec

RUN_ENV = "SPLITBRAIN_NEMESIS_RUN"


class BackendError(RuntimeError):
    pass


def new_run_id() -> str:
    return "sb" + uuid.uuid4().hex[:6]


def _wait_gone(pid: int, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.01)
    return False


class HostBackend:
    name = "host"

    def __init__(self, workdir: str | os.PathLike, run_id: str | None = None, *, clock_control: bool = False,
                 power_loss: bool = False, disk_mb: int | None = None, python: str = sys.executable):
        self.workdir = pathlib.Path(workdir).resolve()
        self.run_id = run_id or new_run_id()
        self.python = python
        self.specs: dict[str, NodeSpec] = {}
        self.addrs: dict[str, NodeAddresses] = {}
        self.procs: dict[str, subprocess.Popen] = {}
        self.paused: set[str] = set()
        self.libfaketime = None
        if clock_control:
            self.libfaketime = clock.find_libfaketime()
            if self.libfaketime is None:
                raise BackendError("clock control needs libfaketime (Debian package 'faketime')")
        self.power_loss = power_loss
        self.disk_mb = disk_mb
        self.mounts: list[str] = []
        self.fuse: dict[str, object] = {}
        self.sockets = SocketDir(self.run_id)  # control sockets: never in the (long) work dir
        if (power_loss or disk_mb) and os.geteuid() != 0 and disk_mb:
            raise BackendError("a size-limited data dir (disk_mb) needs root to mount a tmpfs")
        # Capabilities exist only when configured: a fault is never faked.
        if clock_control:
            self.set_clock = self._set_clock
        if power_loss:
            self.drop_unsynced = self._drop_unsynced
            self.tear_unsynced = self._tear_unsynced
            self.corrupt = self._corrupt
        if disk_mb:
            self.fill_disk = self._fill_disk
            self.free_disk = self._free_disk

    # -- layout -----------------------------------------------------------------------------

    def node_dir(self, node: str) -> pathlib.Path:
        return self.workdir / node

    def nodes(self) -> list[str]:
        return list(self.specs)

    def addresses(self, node: str) -> NodeAddresses:
        return self.addrs[node]

    def _data_dir(self, spec: NodeSpec) -> pathlib.Path:
        p = pathlib.Path(spec.data_dir)
        return p if p.is_absolute() else self.node_dir(spec.id) / p

    def _prepare_node_dirs(self, spec: NodeSpec) -> pathlib.Path:
        data = self._data_dir(spec)
        self.node_dir(spec.id).mkdir(parents=True, exist_ok=True)
        data.mkdir(parents=True, exist_ok=True)
        backing = data
        if self.disk_mb:
            backing = self.node_dir(spec.id) / "disk"
            backing.mkdir(exist_ok=True)
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.disk_mb}m", f"{self.run_id}-disk",
                            str(backing)], check=True, capture_output=True)
            self.mounts.append(str(backing))
            if not self.power_loss:
                # the data dir itself is the small disk
                subprocess.run(["mount", "--bind", str(backing), str(data)], check=True, capture_output=True)
                self.mounts.append(str(data))
        if self.power_loss:
            from ..fusefs import FuseMount
            if backing == data:
                backing = self.node_dir(spec.id) / "backing"
                backing.mkdir(exist_ok=True)
            self.fuse[spec.id] = FuseMount(str(backing), str(data), self.sockets.socket(f"{spec.id}-fuse.sock"),
                                           env={RUN_ENV: self.run_id}, python=self.python,
                                           log=self.node_dir(spec.id) / "fuse.log")
            self.mounts.append(str(data))
        if self.libfaketime:
            clock.write_control(self.node_dir(spec.id) / "faketime.rc", 0.0, 1.0)
        return data

    # -- processes --------------------------------------------------------------------------

    def _wrap(self, node: str, argv: list[str]) -> list[str]:
        return argv

    def _env(self, node: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.specs[node].env)
        env[RUN_ENV] = self.run_id
        if self.libfaketime:
            env.update(clock.environment(self.libfaketime, str(self.node_dir(node) / "faketime.rc")))
        return env

    def start(self, node: str) -> None:
        if self.is_running(node):
            return
        argv = [str(a) for a in self.specs[node].argv(self.addrs[node])]
        log = open(self.addrs[node].log_path, "ab")
        try:
            self.procs[node] = subprocess.Popen(
                self._wrap(node, argv), env=self._env(node), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, cwd=str(self.node_dir(node)))
        finally:
            log.close()
        self.paused.discard(node)

    def is_running(self, node: str) -> bool:
        p = self.procs.get(node)
        return p is not None and p.poll() is None

    def pid(self, node: str) -> int | None:
        return self.procs[node].pid if self.is_running(node) else None

    def _signal(self, node: str, sig: int) -> bool:
        p = self.procs.get(node)
        if p is None or p.poll() is not None:
            return False
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            return False
        return True

    def stop(self, node: str, timeout: float = 10.0) -> None:
        if self._signal(node, signal.SIGTERM):
            self._signal(node, signal.SIGCONT)
            try:
                self.procs[node].wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill(node)
        self.paused.discard(node)
        self._reap_group(node)

    def kill(self, node: str) -> None:
        self._signal(node, signal.SIGKILL)
        p = self.procs.get(node)
        if p is not None:
            p.wait(10)
        self.paused.discard(node)
        self._reap_group(node)

    def _reap_group(self, node: str) -> None:
        # children that outlived the leader still hold ports and files
        p = self.procs.get(node)
        if p is not None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def pause(self, node: str) -> None:
        if self._signal(node, signal.SIGSTOP):
            self.paused.add(node)

    def resume(self, node: str) -> None:
        self._signal(node, signal.SIGCONT)
        self.paused.discard(node)

    def exec(self, node: str, argv: Sequence[str], timeout: float = 30.0) -> ExecResult:
        r = subprocess.run(self._wrap(node, [str(a) for a in argv]), capture_output=True, text=True,
                           timeout=timeout, env=self._env(node), cwd=str(self.node_dir(node)))
        return ExecResult(r.returncode, r.stdout, r.stderr)

    def collect_logs(self, dest_dir: str) -> list[str]:
        out = []
        for node in self.specs:
            dest = pathlib.Path(dest_dir) / node
            dest.mkdir(parents=True, exist_ok=True)
            src = pathlib.Path(self.addrs[node].log_path)
            if src.exists():
                shutil.copy(src, dest / src.name)
                out.append(str(dest / src.name))
        return out

    # -- optional capabilities (bound in __init__ only when configured) ----------------------

    def _set_clock(self, node: str, offset: float, rate: float = 1.0) -> None:
        clock.write_control(self.node_dir(node) / "faketime.rc", offset, rate)

    def wipe(self, node: str) -> None:
        """Delete what the data dir holds; the dir itself stays (it may be a FUSE or tmpfs mount point)."""
        self._down_for("a wipe", node)
        data = self._data_dir(self.specs[node])
        for p in data.iterdir():
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()

    def _drop_unsynced(self, node: str) -> None:
        self._down_for("power loss", node)
        self.fuse[node].drop()

    def _tear_unsynced(self, node: str, seed: int) -> dict:
        self._down_for("a torn power loss", node)
        return self.fuse[node].torn(seed)

    def _corrupt(self, node: str, mode: str, pattern: str, seed: int) -> dict:
        self._down_for(f"a {mode}", node)
        return self.fuse[node].corrupt(mode, pattern, seed)

    def _down_for(self, what: str, node: str) -> None:
        if self.is_running(node):
            raise BackendError(f"{what} on {node}: kill the node first")

    def _ballast(self, node: str) -> pathlib.Path:
        return pathlib.Path(self.addrs[node].data_dir) / ".nemesis-ballast"

    def _fill_disk(self, node: str) -> None:
        block = b"\0" * (1 << 20)
        with open(self._ballast(node), "ab") as f:
            try:
                while True:
                    f.write(block)
                    f.flush()
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
            try:
                os.fsync(f.fileno())
            except OSError:
                pass

    def _free_disk(self, node: str) -> None:
        self._ballast(node).unlink(missing_ok=True)

    # -- teardown ---------------------------------------------------------------------------

    def teardown(self) -> None:
        errors = []
        for node in list(self.procs):
            try:
                self.kill(node)
            except Exception as e:  # keep tearing down the rest
                errors.append(f"{node}: {e}")
        # every mount is tried whatever happened to the one before it; each failure is named
        for node, fm in self.fuse.items():
            try:
                fm.close()
            except Exception as e:  # noqa: BLE001
                errors.append(f"{node}: FUSE {e}")
        self.fuse.clear()
        for m in reversed(self.mounts):
            try:
                subprocess.run(["umount", "-l", m], capture_output=True, timeout=30)
            except (OSError, subprocess.SubprocessError) as e:
                errors.append(f"umount {m}: {e}")
        self.mounts.clear()
        self.sockets.remove()
        if errors:
            raise BackendError("teardown: " + "; ".join(errors))
