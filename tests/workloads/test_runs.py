"""Whole load runs in a child process: histories the checker accepts, Locust stats that agree."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter

import pytest

import checker
from load_helpers import REPO, read_history, run_load

pytestmark = pytest.mark.integration

MODEL = {"register": "cas-register", "reads": "cas-register", "kv": "kv"}


def completions_by_f(events: list[dict]) -> tuple[Counter, Counter]:
    """Checks the history's shape; returns (completions, Locust failures) per f."""
    open_ops: dict = {}
    retired: set = set()
    done, failed = Counter(), Counter()
    for e in events:
        assert e["type"] in ("invoke", "ok", "fail", "info"), e
        assert isinstance(e["time"], int)
        p = e["process"]
        assert p not in retired, f"process {p} continued after info: {e}"
        if e["type"] == "invoke":
            assert p not in open_ops, f"process {p} invoked twice: {e}"
            open_ops[p] = e
            continue
        inv = open_ops.pop(p)
        assert (inv["f"], inv["key"]) == (e["f"], e["key"])
        assert e["time"] >= inv["time"] and e["latency"] == e["time"] - inv["time"]
        if e["f"] != "read" and e["f"] != "get":
            assert e["value"] == inv["value"]
        if e["type"] == "info":
            retired.add(p)
        if e.get("error") == "abandoned":  # cut off by the end of the run: not in Locust's counts
            continue
        done[e["f"]] += 1
        failed[e["f"]] += e["type"] == "info" or "error" in e
    assert not open_ops, f"operations without completion: {list(open_ops.values())[:3]}"
    return done, failed


def assert_run_agrees(result: dict, events: list[dict], workload: str) -> None:
    done, failed = completions_by_f(events)
    assert sum(done.values()) > 20, done
    stats = {name.split("/", 1)[1]: s for name, s in result["operations"].items()}
    assert {f: s["requests"] for f, s in stats.items()} == dict(done)
    assert {f: s["failures"] for f, s in stats.items()} == {f: failed[f] for f in done}
    assert all(name.startswith(workload + "/") for name in result["operations"])
    abandoned = sum(e.get("error") == "abandoned" for e in events)
    assert abandoned <= 5
    assert result["history"]["invoke"] == sum(done.values()) + abandoned


def check(path, workload: str):
    return checker.check(checker.load(str(path)), model=MODEL[workload], timeout=60)


@pytest.mark.parametrize("workload, extra", [("register", {}), ("reads", {"read_mode": "linearizable"}),
                                             ("kv", {"mix": "get=0.5,put=0.3,append=0.2", "keys": 50})])
def test_each_workload_on_etcd_is_linearizable_and_counted(etcd, tmp_path, workload, extra):
    history = tmp_path / "history.jsonl"
    result, _ = run_load({"system": "etcd", "endpoints": etcd.endpoints, "workload": workload, "users": 4,
                          "run_time": 2.5, "rate": 400, "seed": 7, "history_path": str(history), **extra})
    events = read_history(history)
    assert_run_agrees(result, events, workload)
    assert {e["node"] for e in events if e["type"] != "invoke"} <= set(etcd.endpoints)
    assert check(history, workload).valid is True


def test_register_on_reference_kv_is_linearizable_and_counted(reference_kv, tmp_path):
    history = tmp_path / "history.jsonl"
    result, _ = run_load({"system": "reference-kv", "endpoints": reference_kv.endpoints, "workload": "register",
                          "users": 4, "run_time": 2.5, "rate": 300, "history_path": str(history)})
    assert_run_agrees(result, read_history(history), "register")
    assert check(history, "register").valid is True


def test_stale_reads_are_caught(stale_standin, tmp_path):
    """The pipeline can fail: a server that serves old values yields a non-linearizable history."""
    history = tmp_path / "history.jsonl"
    result, _ = run_load({"system": "reference-kv", "endpoints": [stale_standin], "workload": "register",
                          "users": 3, "run_time": 1.5, "rate": 300, "keys": 2, "history_path": str(history)})
    assert_run_agrees(result, read_history(history), "register")
    assert check(history, "register").valid is False


def test_locust_outputs_and_the_rate_ceiling(standin, tmp_path):
    history = tmp_path / "history.jsonl"
    result, out = run_load({"system": "etcd", "endpoints": [standin], "workload": "kv", "mix": "B",
                            "users": 3, "run_time": 2, "rate": 100, "history_path": str(history),
                            "csv_prefix": str(tmp_path / "csv" / "run"), "html_path": str(tmp_path / "r.html")})
    assert_run_agrees(result, read_history(history), "kv")
    assert result["total"]["requests"] <= 230  # a ceiling of 100 ops/s for 2 s, give or take start-up
    assert "Aggregated" in out and "Response time percentiles" in out  # Locust's own tables
    rows = (tmp_path / "csv" / "run_stats.csv").read_text().splitlines()
    agg = [r for r in rows if ",Aggregated," in r]
    assert agg and agg[0].split(",")[2] == str(result["total"]["requests"])
    assert (tmp_path / "csv" / "run_stats_history.csv").exists()
    assert "<html" in (tmp_path / "r.html").read_text()[:2000].lower()


def test_sigterm_stops_cleanly_with_a_complete_history(standin, tmp_path):
    history = tmp_path / "history.jsonl"
    config = {"system": "reference-kv", "endpoints": [standin], "workload": "register", "users": 3,
              "run_time": 60, "rate": 200, "history_path": str(history)}
    proc = subprocess.Popen([sys.executable, "-m", "workloads.run", "--progress", "--config", json.dumps(config)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("event ") and json.loads(line[len("event "):])["event"] == "start", line
        line = proc.stdout.readline()  # the load's own events come first, then its progress
        assert line.startswith("progress "), line + proc.stderr.read()
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr[-2000:]
    result = json.loads([l for l in stdout.splitlines() if l.startswith("result ")][-1][len("result "):])
    assert result["stopped_early"] and result["elapsed"] < 10
    assert_run_agrees(result, read_history(history), "register")


def test_bad_config_is_one_line_and_exit_2():
    out = subprocess.run([sys.executable, "-m", "workloads.run", "--config",
                          json.dumps({"system": "mongo", "endpoints": ["x:1"], "colour": 1})],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "colour" in out.stderr
    out = subprocess.run([sys.executable, "-m", "workloads.run", "--config", json.dumps({"system": "mongo",
                          "endpoints": ["x:1"]})], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "system 'mongo'" in out.stderr and "Traceback" not in out.stderr


def test_locust_command_line_entry(standin, tmp_path):
    history = tmp_path / "history.jsonl"
    out = subprocess.run(
        [sys.executable, "-m", "locust", "-f", os.path.join(REPO, "workloads", "register.py"), "--headless",
         "-u", "3", "-r", "3", "-t", "2s", "--host", f"http://{standin}", "--system", "etcd",
         "--history", str(history), "--rate", "150", "--json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-3000:]
    done, failed = completions_by_f(read_history(history))
    stats = {s["name"].split("/", 1)[1]: s for s in json.loads(out.stdout)}
    assert {f: s["num_requests"] for f, s in stats.items()} == dict(done)
    assert {f: s["num_failures"] for f, s in stats.items()} == {f: failed[f] for f in done}
    assert check(history, "register").valid is True


def test_locust_distributed_mode_two_workers_one_history(standin, tmp_path):
    """Master and two workers on this machine: one history, disjoint processes, stats that agree."""
    from reference_kv.launch import free_ports

    port = free_ports(1)[0]
    locustfile = os.path.join(REPO, "workloads", "register.py")
    workers = [subprocess.Popen([sys.executable, "-m", "locust", "-f", locustfile, "--worker", "--master-port",
                                 str(port)], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for _ in range(2)]
    history = tmp_path / "history.jsonl"
    try:
        out = subprocess.run(
            [sys.executable, "-m", "locust", "-f", locustfile, "--master", "--master-bind-host", "127.0.0.1",
             "--master-bind-port", str(port), "--expect-workers", "2", "--expect-workers-max-wait", "30",
             "--headless", "-u", "4", "-r", "4", "-t", "2s", "--host", f"http://{standin}", "--system", "etcd",
             "--rate", "100", "--history", str(history), "--json"],
            cwd=tmp_path, capture_output=True, text=True, timeout=90)
        assert out.returncode == 0, out.stderr[-3000:]
        for w in workers:
            w.wait(15)
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
    events = read_history(history)
    done, failed = completions_by_f(events)
    assert len({e["process"] // 1_000_000 for e in events}) == 2  # each worker in its own process block
    stats = json.loads(out.stdout)
    assert sum(s["num_requests"] for s in stats) == sum(done.values())
    assert check(history, "register").valid is True
