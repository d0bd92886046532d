"""Whole runs of file-described systems: the test HTTP KV (built-in http-json client, a
user's python client, an external cluster) and etcd, all expected linearizable."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from system_parts import require

from reference_kv.launch import free_port

from .helpers import EXAMPLES, REPO, run_splitbrain, summary_of

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
SHORT = ["--nemesis-interval", "3", "--fault-duration", "2", "--quiet", "2", "--concurrency", "6"]


def test_http_kv_described_by_a_file_is_linearizable_under_pauses(tmp_path):
    r, run = run_splitbrain(["--system", str(EXAMPLES / "testkv.toml"), "--nemesis", "pause",
                             "--time", "10", *SHORT], tmp_path)
    s = summary_of(run)
    assert r.returncode == 0 and s["valid"] is True, r.stdout
    assert s["ops"]["ok"] > 100
    assert "pause" in (run / "history.jsonl").read_text()  # the fault really ran


def test_a_users_python_client_next_to_the_file_reaches_the_load(tmp_path):
    shutil.copy(REPO / "tests" / "systems" / "userclient.py", tmp_path / "my_client.py")
    # a stray module named like one the load imports must not shadow it there either
    (tmp_path / "locust.py").write_text("raise ImportError('the system file directory shadowed locust')\n")
    toml = tmp_path / "system.toml"
    toml.write_text(f'nodes = 1\n[node]\ncommand = "{{python}} {EXAMPLES / "testkv.py"} --listen {{host}}:{{port}}"\n'
                    '[client]\nprotocol = "python:my_client:TestKVClient"\n')
    out = tmp_path / "out"
    r, run = run_splitbrain(["--system", str(toml), "--nemesis", "none", "--time", "4"], out)
    s = summary_of(run)
    assert r.returncode == 0 and s["valid"] is True and s["ops"]["ok"] > 50, r.stderr[-2000:]


@pytest.fixture
def external_kv():
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(EXAMPLES / "testkv.py"), "--listen", f"127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        proc.stdout.readline()  # "listening on ..." once bound
        yield f"127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


def test_an_external_cluster_is_loaded_and_checked_but_never_faulted(tmp_path, external_kv):
    args = ["--system", str(EXAMPLES / "testkv.toml"), "--endpoints", external_kv]
    refused = subprocess.run([sys.executable, "-m", "splitbrain", "run", *args, "--nemesis", "kill",
                              "--out", str(tmp_path / "refused")], capture_output=True, text=True, cwd=REPO,
                             timeout=60)
    assert refused.returncode == 2 and "--nemesis none" in refused.stderr
    r, run = run_splitbrain([*args, "--time", "4"], tmp_path / "out")
    s = summary_of(run)
    assert r.returncode == 0 and s["valid"] is True and s["ops"]["ok"] > 50
    assert '"process":"nemesis"' not in (run / "history.jsonl").read_text().replace(" ", "")
    rounds = [json.loads(line) for line in (run / "status.jsonl").read_text().splitlines()]
    assert rounds and all(r["nodes"]["1"] == {"role": "up"} for r in rounds[-5:])  # the monitor saw it


def test_etcd_described_by_a_file_is_linearizable_under_kills(tmp_path):
    require("etcd")
    r, run = run_splitbrain(["--system", str(EXAMPLES / "etcd.toml"), "--nemesis", "kill",
                             "--time", "12", *SHORT], tmp_path)
    s = summary_of(run)
    assert r.returncode == 0 and s["valid"] is True, r.stdout
    assert '"f":"kill"' in (run / "history.jsonl").read_text().replace(" ", "")
