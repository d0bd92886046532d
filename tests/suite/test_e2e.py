"""Whole runs on the local backend: real nodes, real Locust load, real faults, real checker."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture
def out(tmp_path):
    return tmp_path


def run_splitbrain(args, out, timeout=240):
    r = subprocess.run([sys.executable, "-m", "splitbrain", *args, "--out", str(out)],
                       capture_output=True, text=True, timeout=timeout)
    runs = [p for p in out.iterdir() if p.is_dir() and p.name != "latest"]
    assert len(runs) == 1, (r.stdout[-2000:], r.stderr[-3000:])
    assert (runs[0] / "summary.json").exists(), r.stderr[-3000:]
    return r, runs[0]


def summary_of(run):
    return json.loads((run / "summary.json").read_text())


def test_safe_kv_under_partitions_and_kills_is_linearizable(out):
    r, run = run_splitbrain(["run", "--nemesis", "kill-leader,partition-leader", "--time", "16",
                             "--nemesis-interval", "2.5", "--fault-duration", "2", "--quiet", "2",
                             "--seed", "3"], out)
    s = summary_of(run)
    assert r.returncode == 0 and s["valid"] is True, (s.get("linearizable"), r.stderr[-2000:])
    assert s["throughput_ops_s"] > 0 and s["ops"]["ok"] > 100
    assert s["election_ms"]["count"] >= 1, s["elections"]
    faults = [e for e in s["nemesis"] if e["phase"] == "start"]
    assert faults, s["nemesis"]
    for name in ("config.json", "history.jsonl", "status.jsonl", "report.html", "linearizability.html"):
        assert (run / name).is_file(), name
    assert (out / "latest").resolve() == run.resolve()
    assert any((run / "nodes").glob("*/node.log"))
    # client and nemesis lines come from two processes: the file itself must be a valid, ordered history
    check = subprocess.run([sys.executable, "-m", "splitbrain", "check", str(run / "history.jsonl")],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr


def test_unsafe_local_reads_under_a_leader_partition_are_caught(out):
    r, run = run_splitbrain(["run", "--read-mode", "local-unsafe", "--nemesis", "partition-leader",
                             "--time", "14", "--nemesis-interval", "2", "--fault-duration", "3",
                             "--quiet", "1", "--seed", "1"], out)
    s = summary_of(run)
    assert s["valid"] is False, s["linearizable"]
    assert r.returncode == 1
    assert s["linearizable"]["failing"][0]["cannot_place"].startswith("read")
    assert "NOT LINEARIZABLE" in r.stdout


def test_interrupted_run_keeps_its_history_and_can_be_reported(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "splitbrain", "run", "--nemesis", "kill", "--time", "60",
                             "--out", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        history = None
        while time.monotonic() < deadline:
            found = list(tmp_path.glob("*/history.jsonl"))
            if found and found[0].stat().st_size > 20_000:
                history = found[0]
                break
            time.sleep(0.5)
        assert history is not None, "the run never recorded operations"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err[-2000:]
    run = history.parent
    s = summary_of(run)
    assert s["ops"]["ok"] > 0 and s["valid"] in (True, "unknown")
    r = subprocess.run([sys.executable, "-m", "splitbrain", "report", str(run), "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode in (0, 3) and json.loads(r.stdout)["ops"] == s["ops"]
    leftovers = subprocess.run(["pgrep", "-f", f"reference_kv.*{run.name}"], capture_output=True, text=True)
    assert leftovers.stdout.strip() == "", "node processes survived the interrupted run"


def test_majorities_ring_reports_no_quorum_time_and_elections_from_the_heal(out):
    """On 3 nodes the majorities ring is a one-way ring: no leader can be elected until the
    heal. The summary says so apart, and no election is measured from before the heal."""
    r, run = run_splitbrain(["run", "--nemesis", "partition-majorities-ring", "--time", "14",
                             "--nemesis-interval", "3", "--fault-duration", "4", "--quiet", "2",
                             "--seed", "1"], out)
    s = summary_of(run)
    assert r.returncode == 0, (s.get("linearizable"), r.stderr[-2000:])
    starts = [e for e in s["nemesis"] if e["phase"] == "start"]
    stops = [e for e in s["nemesis"] if e["phase"] == "stop" and e["fault"]]  # the final heal has none
    assert len(starts) == len(stops) == 1 and starts[0]["fault"] == "partition-majorities-ring", s["nemesis"]
    assert [(iv["start"], iv["end"], iv["faults"]) for iv in s["no_quorum"]] == [
        (starts[0]["time"], stops[0]["time"], ["partition-majorities-ring"])]
    assert s["no_quorum_s"] > 1.5
    assert f"no quorum possible: {s['no_quorum_s']:.1f} s, partition-majorities-ring" in r.stdout
    # The election the ring forced is measured from the heal; a leader lost later (a starved
    # process on a loaded 2-core machine) is another election, measured from its own loss.
    heal = stops[0]["time"]
    forced = [e for e in s["elections"] if starts[0]["time"] < e["elected"] and e["lost"] <= heal]
    assert len(forced) == 1, s["elections"]
    assert forced[0]["from"] == "quorum" and forced[0]["lost"] == heal, s["elections"]
    assert forced[0]["ms"] < s["no_quorum_s"] * 1000, s["elections"]
