"""scripts/system-deps and the skips it feeds: without root a missing part is named with
the one apt-get line that installs it, nothing is changed, and a test that needs it skips
with that reason."""
import os
import shutil
import subprocess
import sys
import tempfile

import pytest
import system_parts

pytestmark = pytest.mark.unit
SCRIPT = system_parts._SCRIPT


def run_without_root(args, path):
    """The script as a user who cannot install: nobody when we are root (so it never installs)."""
    cmd = [sys.executable, str(SCRIPT), *args]
    if os.geteuid() == 0:
        # The system Python: nobody cannot enter /root, where our venv's Python may live ...
        python, setpriv = shutil.which("python3", path="/usr/bin:/bin"), shutil.which("setpriv")
        if python is None or setpriv is None:
            pytest.skip("needs /usr/bin/python3 and setpriv (util-linux) to run the script without root")
        # ... nor a checkout under /root: nobody runs a copy
        with tempfile.TemporaryDirectory() as d:
            os.chmod(d, 0o755)
            copy = shutil.copy(SCRIPT, d)
            cmd = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", python, copy, *args]
            return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env={"PATH": path, "HOME": "/"})
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env={"PATH": path, "HOME": "/"})


def test_without_root_it_prints_the_install_line_and_exits_0(tmp_path):
    r = run_without_root([], str(tmp_path))  # an empty PATH: every command-line part is missing
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stdout.splitlines() if "apt-get install" in line]
    assert len(lines) == 1, r.stdout
    line = lines[0].split("To install (as root): ")[1]
    assert line.startswith("apt-get install -y --no-install-recommends ")
    for pkg in ("etcd-server", "redis-server", "redis-sentinel", "chromium", "docker.io", "procps"):
        assert pkg in line.split(), line


def test_check_reports_and_exits_1_when_something_is_missing(tmp_path):
    r = run_without_root(["--check"], str(tmp_path))
    assert r.returncode == 1 and "missing" in r.stdout, r.stdout


def test_bad_arguments_are_one_line_and_exit_2():
    r = subprocess.run([sys.executable, str(SCRIPT), "--frobnicate"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "usage" in r.stderr


def test_a_missing_part_skips_with_the_line_that_installs_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    why = system_parts.missing("etcd")
    assert why and "apt-get install -y --no-install-recommends etcd-client etcd-server" in why
    with pytest.raises(pytest.skip.Exception, match="etcd-server"):
        system_parts.require("etcd")


def test_campaign_faults_map_to_their_parts(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # fusermount3 gone
    assert "fuse3" in system_parts.missing_for_faults(["power-loss-all"])
    assert system_parts.missing_for_faults(["partition-one", "kill"]) is None
