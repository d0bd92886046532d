"""A load run in a child process (Locust patches whoever imports it) and its history."""
from __future__ import annotations

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_load(config: dict, timeout: float = 60, extra_args: tuple = ()) -> tuple[dict, str]:
    """`python -m workloads.run` in a child process; returns (result dict, stdout)."""
    out = subprocess.run([sys.executable, "-m", "workloads.run", "--config", json.dumps(config), *extra_args],
                         cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"workloads.run exited {out.returncode}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    lines = [line for line in out.stdout.splitlines() if line.startswith("result ")]
    assert lines, out.stdout[-3000:]
    return json.loads(lines[-1][len("result "):]), out.stdout + out.stderr


def read_history(path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]
