"""`splitbrain cleanup`'s own rules, without runs: bad input is one line and exit 2, a run whose
suite is alive is never touched, --dry-run removes nothing (the real leftovers: test_lifecycle)."""
import io
import json
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout

import pytest

from splitbrain import leftovers
from splitbrain.cli import main

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def cleanup(*args):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["cleanup", *map(str, args)])
    return code, out.getvalue(), err.getvalue()


def test_nothing_recorded():
    code, out, _ = cleanup()
    assert code == 0 and "no recorded run left anything" in out


def test_not_a_directory(tmp_path):
    code, _, err = cleanup(tmp_path / "nope")
    assert code == 2 and err.strip().endswith("not a directory") and len(err.strip().splitlines()) == 1


def test_a_run_whose_suite_is_alive_is_left_alone(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    # a process of "this run" that cleanup must not kill while its owner (this test) is alive
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                             env={**os.environ, "SPLITBRAIN_NEMESIS_RUN": "sbtestalive"})
    try:
        rec = leftovers.Record(run, "sbtestalive", "local").write()
        assert leftovers.index_dir().joinpath("sbtestalive.json").is_file()
        code, out, _ = cleanup()
        assert code == 0 and "still running" in out and child.poll() is None
        code, out, _ = cleanup(run)
        assert code == 0 and "still running" in out and child.poll() is None
        rec.remove()
        assert not (run / "resources.json").exists() and not leftovers.recorded()
    finally:
        child.kill()
        child.wait()


def test_dry_run_removes_nothing(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                             env={**os.environ, "SPLITBRAIN_NEMESIS_RUN": "sbtestdead"})
    try:
        rec = leftovers.Record(run, "sbtestdead", "local")
        rec.data.update(pid=2**22 + 1, pid_started="0")  # an owner that is gone
        rec.write()
        code, out, _ = cleanup("--dry-run")
        assert code == 0 and "would clean run sbtestdead" in out and child.poll() is None
        code, out, _ = cleanup(run)
        assert code == 0 and "cleaned 1 processes" in out, out
        assert child.wait(10) is not None and not leftovers.recorded()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
