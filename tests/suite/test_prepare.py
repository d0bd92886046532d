"""A run is checked whole before anything exists (issue #22 item 10): a refused run starts no
node, creates no run directory and leaves `results/latest` where it was."""
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit


def refused(tmp_path, *args, env=None):
    out = tmp_path / "results"
    out.mkdir()
    (out / "latest").symlink_to("an-earlier-run")
    r = subprocess.run([sys.executable, "-m", "splitbrain", "run", "--time", "5", "--out", str(out), *map(str, args)],
                       capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
                       cwd=tmp_path)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, (r.returncode, r.stderr[-3000:])
    assert sorted(p.name for p in out.iterdir()) == ["latest"], "a refused run created a run directory"
    assert os.readlink(out / "latest") == "an-earlier-run", "a refused run moved results/latest"
    return lines[0]


@pytest.mark.parametrize("args,needle", [
    (["--nemesis", "bogus"], "unknown fault 'bogus'"),
    (["--nemesis", "partition,bogus"], "unknown fault 'bogus'"),
    (["--unsafe-bug", "bogus"], "no such bug"),
    (["--snapshot-every", "-1"], "--snapshot-every must be an integer at least 1"),
    (["--nodes", "100"], "the local backend runs at most 15 node(s), not --nodes 100"),
    (["--backend", "ssh"], "needs hosts="),
    (["--nemesis-mode", "parallel"], "invalid choice: 'parallel'"),
    (["--backend", "netns", "--backend-option", "cut_mode=stall"], "no option cut_mode"),
])
def test_refused_before_anything_exists(tmp_path, args, needle):
    assert needle in refused(tmp_path, *args)


def test_ssh_with_fewer_hosts_than_nodes(tmp_path):
    (tmp_path / "key").write_text("")
    (tmp_path / "known_hosts").write_text("")
    line = refused(tmp_path, "--backend", "ssh", "--backend-option", "hosts=root@127.0.0.1",
                   "--backend-option", f"key_file={tmp_path / 'key'}",
                   "--backend-option", f"known_hosts={tmp_path / 'known_hosts'}")
    assert "the ssh backend runs at most 1 node(s), not --nodes 3" in line


def test_an_unreachable_docker_engine(tmp_path):
    line = refused(tmp_path, "--backend", "docker", env={"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"})
    assert "no Docker engine reachable" in line


def test_a_system_whose_program_does_not_exist(tmp_path):
    system = tmp_path / "my kv.toml"
    system.write_text('[node]\ncommand = "/no/such/mykv --port {port}"\n[client]\nprotocol = "redis"\n')
    assert "'/no/such/mykv' is not a program here" in refused(tmp_path, "--system", system, "--nemesis", "none")


def test_a_fault_this_backend_cannot_run(tmp_path):
    """etcd's peers cannot sit behind the local backend's per-link proxies: a named link fault is refused
    before etcd starts, not after."""
    assert "cannot run here" in refused(tmp_path, "--system", "etcd", "--nemesis", "partition-one")


def test_out_is_a_file(tmp_path):
    (tmp_path / "file").write_text("")
    r = subprocess.run([sys.executable, "-m", "splitbrain", "run", "--out", str(tmp_path / "file")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "not a directory" in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("system,needle", [
    ("etcd", "etcd's clock: it is a Go program"),
    ("examples/systems/etcd.toml", "'s etcd: it is a Go program"),
    ("examples/systems/redis.toml", "[node] faketime = false"),
])
def test_a_clock_fault_that_would_not_reach_the_system(tmp_path, system, needle):
    """libfaketime cannot reach a Go program's clock (the vDSO) and aborts redis-server: a clock fault
    there would run as a no-op (and a run 'linearizable under clock skew' would be a lie) or never start."""
    import shutil
    from pathlib import Path
    if "etcd" in system and not shutil.which("etcd"):
        pytest.skip("no etcd here (scripts/system-deps installs it)")
    path = Path(__file__).resolve().parents[2] / system if system.endswith(".toml") else system
    line = refused(tmp_path, "--system", path, "--nemesis", "clock-skew")
    assert "cannot run here" in line and needle in line, line


@pytest.mark.parametrize("program,go", [("etcd", True), (sys.executable, False)])
def test_go_programs_are_known_by_their_build_info(program, go):
    import shutil

    from splitbrain.systems.base import go_program
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"no {program} here")
    assert go_program(path) is go
