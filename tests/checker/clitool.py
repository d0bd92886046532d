"""Running `splitbrain check` as a user does, for the checker's CLI tests."""
from __future__ import annotations

import json
import subprocess
import sys


def sb(*args):
    return subprocess.run([sys.executable, "-m", "splitbrain", "check", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def jl(tmp_path, name, events, raw_tail=""):
    """A JSONL history file of `events`, then `raw_tail` as it is."""
    p = tmp_path / name
    p.write_text("".join(json.dumps(e) + "\n" for e in events) + raw_tail)
    return p
