"""What a run may leave behind if it is killed, recorded before it makes any of it.

A run that ends (normally, or by SIGINT, SIGTERM or SIGHUP) tears its cluster down
itself. One killed by SIGKILL, or by the kernel, cannot: its nodes, proxies, FUSE
mounts, paused processes, namespaces, containers, iptables rules and socket
directories stay. So before the backend creates anything, the run writes a record:
its run id (every process it starts carries it in SPLITBRAIN_NEMESIS_RUN, and every
namespace, link, rule, container, mount device and socket directory is named or
labelled after it), its backend, its run directory, the pid of the suite that owns
it and, for ssh, how to reach the hosts. The record is kept twice: in the run
directory (`resources.json`) and in an index under the user's state directory
($XDG_STATE_HOME/splitbrain/runs, default ~/.local/state/...), so that
`splitbrain cleanup` finds every dead run without being told where it wrote. A run
whose teardown succeeded removes both.
"""
from __future__ import annotations

import json
import os
import pathlib
import time

RECORD = "resources.json"


def index_dir() -> pathlib.Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return pathlib.Path(base) / "splitbrain" / "runs"


def _started(pid: int) -> str | None:
    """The kernel's start time of `pid` (so a reused pid is not taken for the run's owner)."""
    try:
        return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


class Record:
    """The record of one run, written as it learns more (the ssh hosts' directories after setup)."""

    def __init__(self, run: pathlib.Path, run_id: str, backend: str, **extra):
        self.run = run.resolve()
        self.data = {"run_id": run_id, "backend": backend, "run": str(self.run),
                     "workdir": str(self.run / "nodes"), "pid": os.getpid(), "pid_started": _started(os.getpid()),
                     "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **extra}
        self.index = index_dir() / f"{run_id}.json"

    def write(self, **more) -> "Record":
        self.data.update(more)
        text = json.dumps(self.data, indent=2) + "\n"
        _write(self.run / RECORD, text)
        try:
            self.index.parent.mkdir(parents=True, exist_ok=True)
            _write(self.index, text)
        except OSError:
            pass  # no state directory: the copy in the run directory still finds it
        return self

    def remove(self) -> None:
        forget(self.data)


def _write(path: pathlib.Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def forget(rec: dict) -> None:
    """Remove both copies of a record (its run is clean)."""
    for p in (pathlib.Path(rec.get("run", "")) / RECORD, index_dir() / f"{rec['run_id']}.json"):
        try:
            p.unlink()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            pass


def owner_alive(rec: dict) -> bool:
    """Is the suite that wrote this record still running?"""
    pid = rec.get("pid")
    return isinstance(pid, int) and _started(pid) is not None and _started(pid) == rec.get("pid_started")


def load(path: pathlib.Path) -> dict | None:
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or not isinstance(rec.get("run_id"), str) or len(rec["run_id"]) < 3:
        return None
    return rec


def recorded() -> list[tuple[pathlib.Path, dict]]:
    """Every record in the index: (its file, the record)."""
    d = index_dir()
    out = []
    for p in sorted(d.glob("*.json")) if d.is_dir() else []:
        rec = load(p)
        if rec is not None:
            out.append((p, rec))
    return out


def clean(rec: dict) -> dict[str, list[str]]:
    """Remove what the run of `rec` left on this machine (and, for ssh, on its hosts); -> what went."""
    from nemesis import sweep

    done = sweep.sweep(rec["run_id"], under=rec.get("workdir"))
    remote = rec.get("ssh")
    if isinstance(remote, dict):
        done["remote"] = sweep.sweep_ssh(rec["run_id"], **remote)
    return done
