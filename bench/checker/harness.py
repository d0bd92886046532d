"""The Porcupine (Go) harness: built once into bench/checker/out/ (rebuilt
when its sources change), run on FORMAT:PATH specs, answers parsed.
Shared by the bench and tests/checker's differential test."""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
SRC = HERE / "porcupine"
OUT = HERE / "out"
BINARY = OUT / "porcupine-bench"


class GoMissing(RuntimeError):
    pass


def binary() -> pathlib.Path:
    """The harness binary, built if missing or older than its Go sources."""
    newest = max(p.stat().st_mtime for p in SRC.iterdir())
    if BINARY.exists() and BINARY.stat().st_mtime >= newest:
        return BINARY
    go = shutil.which("go") or ("/usr/local/go/bin/go" if os.path.exists("/usr/local/go/bin/go") else None)
    if go is None:
        raise GoMissing("`go` is not installed: cannot build the Porcupine harness (bench/checker/porcupine)")
    OUT.mkdir(exist_ok=True)
    # Build beside the target and rename, so concurrent builders never see half a binary.
    fd, tmp = tempfile.mkstemp(dir=OUT, prefix=".porcupine-bench.")
    os.close(fd)
    try:
        built = subprocess.run([go, "build", "-o", tmp, "."], cwd=SRC, capture_output=True, text=True)
        if built.returncode != 0:
            raise RuntimeError(f"go build of {SRC} failed (needs github.com/anishathalye/porcupine in the module "
                               f"cache or network access): {built.stderr.strip()}")
        os.replace(tmp, BINARY)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return BINARY


def parse(stdout: str) -> tuple[dict, dict, int]:
    """Harness output (ours or Porcupine's): {file: [seconds...]}, {file: valid}, peak RSS KiB."""
    times, valid, peak = {}, {}, 0
    for line in stdout.splitlines():
        rec = json.loads(line)
        if "peak_rss_kib" in rec:
            peak = rec["peak_rss_kib"]
            continue
        times.setdefault(rec["file"], []).append(rec["seconds"])
        valid[rec["file"]] = rec["valid"]
    return times, valid, peak


def porcupine(specs: list[str], repeats: int = 1, timeout: float | None = None) -> tuple[dict, dict, int]:
    """Run Porcupine on FORMAT:PATH specs (FORMAT jepsen-log | porcupine-kv | jsonl-cas-register | jsonl-kv)."""
    cmd = [str(binary())]
    if timeout:
        cmd.append(f"-timeout={timeout}")
    out = subprocess.run([*cmd, str(repeats), *specs], check=True, capture_output=True, text=True).stdout
    return parse(out)
