"""A whole `splitbrain run` on the Region store: kv load, kills and a leader partition, Regions counted."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_region_run_splits_stays_linearizable_and_counts_regions(tmp_path):
    r = subprocess.run([sys.executable, "-m", "splitbrain", "run", "--workload", "kv",
                        "--region-split-size", "32KiB", "--keys", "300", "--value-size", "512",
                        "--nemesis", "kill-leader,partition-leader", "--time", "18", "--nemesis-interval", "4",
                        "--fault-duration", "2", "--quiet", "3", "--seed", "2", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=240)
    runs = [p for p in tmp_path.iterdir() if p.is_dir() and p.name != "latest"]
    assert len(runs) == 1, r.stderr[-3000:]
    s = json.loads((runs[0] / "summary.json").read_text())
    assert s["valid"] is True and r.returncode == 0, (s.get("linearizable"), r.stderr[-2000:])
    assert s["regions"]["count"] >= 4, s["regions"]
    assert any(e["phase"] == "start" for e in s["nemesis"]), s["nemesis"]
    assert json.loads((runs[0] / "config.json").read_text())["region_split_size"] == "32KiB"


def test_a_bad_split_size_is_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "splitbrain", "run", "--region-split-size", "lots",
                        "--out", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--region-split-size" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "reference_kv.regions", "--id", "1", "--listen", "127.0.0.1:1",
                        "--peer-listen", "127.0.0.1:2", "--peers", "1=127.0.0.1:2", "--data-dir", str(tmp_path / "d"),
                        "--region-split-size", "12XB"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "bad size" in r.stderr and "Traceback" not in r.stderr
