"""Bad input to the suite's commands: one clear line on stderr, exit 2, no traceback."""
import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit


def splitbrain(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "splitbrain", *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd)


@pytest.mark.parametrize("args,needle", [
    (["run", "--workload", "nope"], "unknown workload 'nope'"),
    (["run", "--nodes", "0"], "--nodes must be an integer at least 1"),
    (["run", "--time", "-5"], "--time must be a finite number of seconds above 0"),
    (["run", "--backend", "mars"], "unknown backend 'mars'"),
    (["run", "--system", "mongo"], "unknown system 'mongo'"),
    (["run", "--read-mode", "psychic"], "system reference-kv has no read mode 'psychic'"),
    (["run", "--system", "etcd", "--read-mode", "lease"], "system etcd has no read mode 'lease' (choose from "
                                                          "linearizable, serializable)"),
    (["run", "--nodes", "three"], "invalid int value"),
    (["run", "--config", "/nonexistent/config.json"], "no such file"),
    (["report", "/nonexistent-run-dir"], "not a directory"),
    (["bogus-command"], "invalid choice"),
    (["run", "--backend-option", "novalue"], "expected KEY=VALUE"),
    (["run", "--backend-option", "colour=blue", "--time", "1"], "no option colour"),
    (["run", "--system", "etcd", "--backend", "docker"], "cannot run on the docker backend"),
    (["run", "--system", "etcd", "--endpoints", "127.0.0.1:1"], "endpoint 127.0.0.1:1 is unreachable"),
])
def test_bad_options_give_one_line_and_exit_2(args, needle):
    r = splitbrain(*args)
    assert r.returncode == 2, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_config_file_with_unknown_key_is_named(tmp_path):
    p = tmp_path / "config.json"
    p.write_text(json.dumps({"workload": "register", "colour": "blue"}))
    r = splitbrain("run", "--config", str(p))
    assert r.returncode == 2 and "unknown key 'colour'" in r.stderr


def test_report_on_a_directory_without_history(tmp_path):
    r = splitbrain("report", str(tmp_path))
    assert r.returncode == 2 and "no history.jsonl" in r.stderr


def _run_config(*argv):
    import argparse

    from splitbrain.commands import run

    p = argparse.ArgumentParser()
    run.add_arguments(p)
    return run.config_from_args(p.parse_args(list(argv)))


def test_a_kv_run_on_regions_writes_enough_to_split_unless_told_otherwise():
    cfg = _run_config("--workload", "kv", "--region-split-size", "256KiB")
    assert cfg.keys == 1000 and cfg.keys * cfg.value_size >= 8 * 256 * 1024
    cfg = _run_config("--workload", "kv", "--region-split-size", "256KiB", "--keys", "50", "--value-size", "100")
    assert (cfg.keys, cfg.value_size) == (50, 100)
    cfg = _run_config("--workload", "kv", "--region-split-size", "64MiB")
    assert cfg.value_size == 4096  # capped: a history of 64 KiB values helps no one
    assert _run_config("--workload", "register", "--region-split-size", "256KiB").keys == 8
