"""Running `splitbrain run` in a child process and reading what it wrote."""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent.parent
EXAMPLES = REPO / "examples" / "systems"


def run_splitbrain(args: list[str], out: pathlib.Path, timeout: float = 150):
    """(completed process, run directory) of one `splitbrain run`."""
    r = subprocess.run([sys.executable, "-m", "splitbrain", "run", *args, "--out", str(out)],
                       capture_output=True, text=True, timeout=timeout, cwd=REPO)
    runs = [p for p in out.iterdir() if p.is_dir() and p.name != "latest"] if out.exists() else []
    assert len(runs) == 1, (r.returncode, r.stdout[-2000:], r.stderr[-3000:])
    assert (runs[0] / "summary.json").exists(), r.stderr[-3000:]
    return r, runs[0]


def summary_of(run: pathlib.Path) -> dict:
    return json.loads((run / "summary.json").read_text())
