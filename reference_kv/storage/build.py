"""Build the Pebble shim: ``python -m reference_kv.storage.build [--force]``.

The shared library lands in ``_shim/`` next to this file (git-ignored) and
is rebuilt only when a Go source, go.mod or go.sum is newer than it. A file
lock serialises builds, because test processes may all try at once.
"""
from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .base import StorageError

HERE = Path(__file__).resolve().parent
SHIM_SRC = HERE / "shim"
OUT_DIR = HERE / "_shim"
LIBRARY = OUT_DIR / "libpebbleshim.so"


class GoMissing(StorageError):
    pass


def _sources() -> list[Path]:
    return sorted(SHIM_SRC.glob("*.go")) + [SHIM_SRC / "go.mod", SHIM_SRC / "go.sum"]


def is_up_to_date() -> bool:
    try:
        built = LIBRARY.stat().st_mtime
    except FileNotFoundError:
        return False
    return all(src.stat().st_mtime <= built for src in _sources())


def find_go() -> str | None:
    """The go binary: $PEBBLESHIM_GO if set, else PATH, else the usual install places."""
    override = os.environ.get("PEBBLESHIM_GO")
    if override is not None:
        return override if os.access(override, os.X_OK) else None
    found = shutil.which("go")
    if found:
        return found
    for candidate in ("/usr/local/go/bin/go", "/usr/lib/go/bin/go"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def build(force: bool = False, log=None) -> Path:
    """Build the library unless it is up to date; returns its path."""
    if not force and is_up_to_date():
        return LIBRARY
    go = find_go()
    if go is None:
        raise GoMissing("cannot build the Pebble shim: the Go toolchain (go >= 1.23) is not on PATH; "
                        "install it and run `python -m reference_kv.storage.build`")
    OUT_DIR.mkdir(exist_ok=True)
    with open(OUT_DIR / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and is_up_to_date():
            return LIBRARY  # another process built it while we waited
        if log:
            log(f"building {LIBRARY} with {go} (the first build compiles Pebble: minutes)")
        tmp = OUT_DIR / f".libpebbleshim.{os.getpid()}.so"
        env = dict(os.environ, CGO_ENABLED="1")
        proc = subprocess.run([go, "build", "-trimpath", "-buildmode=c-shared", "-o", str(tmp), "."],
                              cwd=SHIM_SRC, env=env, capture_output=True, text=True)
        tmp.with_suffix(".h").unlink(missing_ok=True)
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise StorageError(f"go build of the Pebble shim failed:\n{proc.stderr.strip()}")
        # Renaming is atomic: a process that already mapped the old file keeps it.
        os.replace(tmp, LIBRARY)
    return LIBRARY


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference_kv.storage.build",
                                     description="Build the Go shim that binds Pebble.")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args(argv)
    try:
        if is_up_to_date() and not args.force:
            print(f"{LIBRARY} is up to date")
            return 0
        path = build(force=args.force, log=lambda m: print(m, file=sys.stderr))
    except GoMissing as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except StorageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"built {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
