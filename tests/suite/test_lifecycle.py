"""Nothing is left behind (issue #22 item 11), with real runs, real processes, real mounts,
namespaces and containers: SIGTERM and SIGHUP stop `splitbrain run` as Ctrl-C does (heal,
resume the paused node, stop everything, unmount, write summary and report); what a SIGKILL
leaves, `splitbrain cleanup` finds from the run's record and removes."""
from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest
from system_parts import missing, require_docker_engine

from nemesis import mounts
from nemesis.sweep import processes

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture
def env(tmp_path):
    """The run's records go to a state directory of the test's own."""
    return {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}


def start_run(tmp_path, env, *args):
    out = tmp_path / "results"
    log = open(tmp_path / "run.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "splitbrain", "run", "--time", "90", "--quiet", "1",
                             "--out", str(out), *map(str, args)], stdout=log, stderr=subprocess.STDOUT, env=env)
    return proc, out


def wait_for(what, cond, timeout=120.0, proc=None, tmp_path=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.3)
    log = (tmp_path / "run.log").read_text()[-3000:] if tmp_path else ""
    raise AssertionError(f"{what} did not happen in {timeout:.0f}s\n{log}")


def record_of(out):
    p = out / "latest" / "resources.json"
    return json.loads(p.read_text()) if p.is_file() else None


def fault_started(out, fault):
    h = out / "latest" / "history.jsonl"
    if not h.is_file():
        return None
    for line in h.read_text().splitlines():
        if f'"fault":"{fault}"' in line.replace(" ", "") and '"phase":"start"' in line.replace(" ", ""):
            return json.loads(line)
    return None


def states(run_id):
    """The process states (R, S, T...) of the run's processes."""
    out = []
    for pid in processes(run_id):
        try:
            out.append(pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0])
        except OSError:
            pass
    return out


def mounts_under(path):
    p = os.path.realpath(path) + os.sep
    return [m.point for m in mounts.table() if m.point.startswith(p)]


def socket_dirs(run_id):
    from nemesis.sockdir import base_dir

    return [n for n in os.listdir(base_dir()) if n.startswith(run_id + "-")]


def finish(proc):
    if proc.poll() is None:
        proc.kill()
        proc.wait(30)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_a_run_as_ctrl_c_does(tmp_path, env, sig):
    # seed 1 pauses one node first, for 30 s: it is stopped (state T) when the signal comes
    proc, out = start_run(tmp_path, env, "--nemesis", "pause-one", "--seed", "1", "--nemesis-interval", "1",
                          "--fault-duration", "30")
    try:
        rec = wait_for("the run's record", lambda: record_of(out), proc=proc, tmp_path=tmp_path)
        wait_for("a paused node", lambda: fault_started(out, "pause-one") and "T" in states(rec["run_id"]),
                 proc=proc, tmp_path=tmp_path)
        proc.send_signal(sig)
        assert proc.wait(120) == 128 + sig
    finally:
        finish(proc)
    run = pathlib.Path(rec["run"])
    log = (tmp_path / "run.log").read_text()
    assert f"interrupted ({signal.Signals(sig).name})" in log, log[-2000:]
    assert processes(rec["run_id"]) == [], "processes of the run outlived it"
    assert socket_dirs(rec["run_id"]) == []
    s = json.loads((run / "summary.json").read_text())
    assert (run / "report.html").is_file() and s["ops"]["ok"] > 0
    assert any(e["phase"] == "stop" and e["fault"] is None for e in s["nemesis"]), "no final heal recorded"
    assert not (run / "resources.json").exists() and not list((tmp_path / "state").rglob(f"{rec['run_id']}.json"))


def test_sigterm_unmounts_the_power_loss_filesystems(tmp_path, env):
    why = missing("fuse")
    if why:
        pytest.skip(why)
    proc, out = start_run(tmp_path, env, "--nemesis", "power-loss-one", "--nemesis-interval", "1",
                          "--fault-duration", "30")
    try:
        rec = wait_for("the run's record", lambda: record_of(out), proc=proc, tmp_path=tmp_path)
        wait_for("power lost", lambda: fault_started(out, "power-loss-one"), proc=proc, tmp_path=tmp_path)
        assert len(mounts_under(rec["workdir"])) == 3
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(120) == 128 + signal.SIGTERM
    finally:
        finish(proc)
    assert mounts_under(rec["workdir"]) == [] and processes(rec["run_id"]) == []
    assert (pathlib.Path(rec["run"]) / "summary.json").is_file()


def kill_then_clean(tmp_path, env, proc, out, fault, leftovers):
    """SIGKILL the run once `fault` started and `leftovers(record)` says what the run made;
    `splitbrain cleanup` then removes it all."""
    try:
        rec = wait_for("the run's record", lambda: record_of(out), proc=proc, tmp_path=tmp_path)
        wait_for("the run's nodes and faults", lambda: fault_started(out, fault) and leftovers(rec),
                 proc=proc, tmp_path=tmp_path)
        proc.kill()
        proc.wait(30)
        time.sleep(1)
        left = leftovers(rec)
        assert left, "a SIGKILLed run left nothing to clean: the test shows nothing"
        r = subprocess.run([sys.executable, "-m", "splitbrain", "cleanup"], capture_output=True, text=True,
                           env=env, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        assert rec["run"] in r.stdout and "cleaned" in r.stdout, r.stdout
        assert not leftovers(rec), f"left after cleanup: {leftovers(rec)}"
        assert processes(rec["run_id"]) == []
        again = subprocess.run([sys.executable, "-m", "splitbrain", "cleanup"], capture_output=True, text=True,
                               env=env, timeout=120)
        assert again.returncode == 0 and "no recorded run left anything" in again.stdout, again.stdout
        return rec, left
    finally:
        finish(proc)


def test_cleanup_after_sigkill_local(tmp_path, env):
    """Nodes, the link proxy, the load, a paused node, FUSE mounts and the socket directory."""
    fuse = missing("fuse") is None
    faults = "pause-one,power-loss-one" if fuse else "pause-one"
    proc, out = start_run(tmp_path, env, "--nemesis", faults, "--seed", "1", "--nemesis-interval", "1",
                          "--fault-duration", "30")

    def left_anything(rec):
        found = {"processes": processes(rec["run_id"]), "paused": "T" in states(rec["run_id"]),
                 "mounts": mounts_under(rec["workdir"]), "sockets": socket_dirs(rec["run_id"])}
        return found if found["processes"] or found["mounts"] or found["sockets"] else {}

    rec, left = kill_then_clean(tmp_path, env, proc, out, "pause-one", left_anything)
    assert left["paused"] and len(left["processes"]) >= 5 and left["sockets"], left  # 3 nodes, proxy, load
    if fuse:
        assert len(left["mounts"]) == 3, left


def _netns(run_id):
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    rules = subprocess.run(["iptables", "-w", "-S", "FORWARD"], capture_output=True, text=True).stdout
    return {"netns": [n for n in names if n.startswith(run_id)],
            "links": [line.split(": ")[1] for line in links.splitlines() if f": {run_id}" in line],
            "rules": [line for line in rules.splitlines() if run_id in line]}


@pytest.mark.root
def test_cleanup_after_sigkill_netns(tmp_path, env):
    """Namespaces, the bridge and its veths, the FORWARD rule, the nodes inside the namespaces."""
    from nemesis.backends.netns import missing_requirements

    if missing_requirements():
        pytest.skip(missing_requirements())
    proc, out = start_run(tmp_path, env, "--backend", "netns", "--nemesis", "partition-one",
                          "--nemesis-interval", "1", "--fault-duration", "30")

    def leftovers(rec):
        found = {k: v for k, v in _netns(rec["run_id"]).items() if v}
        return {**found, "processes": processes(rec["run_id"])} if found else {}

    rec, left = kill_then_clean(tmp_path, env, proc, out, "partition-one", leftovers)
    assert len(left["netns"]) == 3 and left["rules"] and left["links"], left


@pytest.mark.docker
def test_cleanup_after_sigkill_docker(tmp_path, env):
    """The containers and their network."""
    require_docker_engine()
    import docker

    client = docker.from_env(timeout=30)

    def leftovers(rec):
        label = {"label": f"splitbrain.run={rec['run_id']}"}
        return {"containers": [c.name for c in client.containers.list(all=True, filters=label)],
                "networks": [n.name for n in client.networks.list(filters=label)]} \
            if client.containers.list(all=True, filters=label) else {}

    try:
        proc, out = start_run(tmp_path, env, "--backend", "docker", "--nemesis", "kill-one",
                              "--nemesis-interval", "1", "--fault-duration", "30")
        rec, left = kill_then_clean(tmp_path, env, proc, out, "kill-one", leftovers)
        assert len(left["containers"]) == 3 and left["networks"], left
    finally:
        client.close()
