"""Run directories: where a run's evidence lives and how it is found again.

    <out>/<timestamp>-<system>-<workload>/
        config.json            enough to rerun it (`splitbrain run --config`)
        history.jsonl          client and nemesis events, appended as they happen
        status.jsonl           node status rounds sampled by the monitor
        load-events.jsonl      the load's own events: start, stop, users that died
        summary.json           the numbers (rebuilt by `splitbrain report`)
        report.html            the readable report
        linearizability.html   the checker's visualization
        nodes/<id>/            node logs
        clients/               a process client's stderr, a file per load user
    <out>/latest -> the newest run
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import pathlib
import re

from splitbrain.errors import UsageError

HISTORY = "history.jsonl"
STATUS = "status.jsonl"
LOAD_EVENTS = "load-events.jsonl"
CLIENT_LOGS = "clients"  # a process client's stderr, a file per load user
CONFIG = "config.json"
SUMMARY = "summary.json"
REPORT = "report.html"
LINEARIZABILITY = "linearizability.html"
LOCUST_PREFIX = "locust"


def fresh(out: pathlib.Path, label: str) -> pathlib.Path:
    """The path a new run directory would take now (`<stamp>-<label>`, then `-2`, `-3`...); nothing is created."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-")
    base = out / f"{stamp}-{safe}"
    run, n = base, 1
    while run.exists() or run.is_symlink():
        n += 1
        run = pathlib.Path(f"{base}-{n}")
    return run


def claim(run: pathlib.Path) -> bool:
    """Create exactly `run` (with nodes/) and point `latest` at it; False when another run took it first."""
    try:
        run.parent.mkdir(parents=True, exist_ok=True)
        run.mkdir()
    except FileExistsError:
        return False
    except OSError as e:
        raise UsageError(f"cannot create the run directory {run}: {e.strerror or e}") from None
    (run / "nodes").mkdir()
    point_latest(run.parent, run)
    return True


def create(out: pathlib.Path, label: str) -> pathlib.Path:
    """A new run directory, created at once."""
    while True:
        run = fresh(out, label)
        if claim(run):
            return run


def check_out(out: pathlib.Path) -> None:
    """Where run directories go must be a directory, or not exist yet."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: not a directory")
    parent = next((p for p in (out, *out.parents) if p.exists()), None)
    if parent is not None and not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: {parent} is not writable")


def point_latest(out: pathlib.Path, run: pathlib.Path) -> None:
    """Atomic: a reader never sees `latest` missing."""
    tmp = out / f".latest.{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(run.name)
    os.replace(tmp, out / "latest")


def write_json(path: pathlib.Path, obj) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
    os.replace(tmp, path)


def resolve(path_arg: str) -> pathlib.Path:
    """A run directory given by the user: must hold a history."""
    run = pathlib.Path(path_arg).resolve()
    if not run.is_dir():
        raise UsageError(f"{path_arg}: not a directory")
    if not (run / HISTORY).is_file():
        raise UsageError(f"{path_arg}: no {HISTORY} in it, not a run directory")
    return run


def load_config(run: pathlib.Path) -> dict:
    return load_json_object(run / CONFIG)


def load_json_object(p: pathlib.Path) -> dict:
    """A JSON object the run wrote ({} when the file is absent); UsageError when it is not one."""
    if not p.is_file():
        return {}
    try:
        obj = json.loads(p.read_text())
    except (ValueError, RecursionError) as e:
        raise UsageError(f"{p}: not valid JSON ({e})") from None
    except OSError as e:
        raise UsageError(f"{p}: cannot read ({e.strerror or e})") from None
    if not isinstance(obj, dict):
        raise UsageError(f"{p}: expected a JSON object")
    return obj
