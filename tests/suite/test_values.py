"""Every number the suite takes is finite and in range, whatever it came from (issue #22 item 8):
a flag, a config.json field, a system file value. One line and exit 2 otherwise."""
import dataclasses
import json
import subprocess
import sys

import pytest

from splitbrain import values
from splitbrain.config import RunConfig
from splitbrain.errors import UsageError

pytestmark = pytest.mark.unit


def _run_config(*argv):
    import argparse

    from splitbrain.commands import run

    p = argparse.ArgumentParser()
    run.add_arguments(p)
    return run.config_from_args(p.parse_args(list(argv)))


def splitbrain(*args):
    return subprocess.run([sys.executable, "-m", "splitbrain", *map(str, args)], capture_output=True, text=True,
                          timeout=60)


def one_line_exit_2(r, needle=""):
    assert r.returncode == 2, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr and needle in lines[0], r.stderr


BAD_FLAGS = [
    ("--nemesis-interval", "nan"), ("--nemesis-interval", "inf"), ("--nemesis-interval", "0"),
    ("--fault-duration", "nan"), ("--fault-duration", "-1"),
    ("--time", "inf"), ("--time", "nan"), ("--time", "-5"), ("--time", "1e300"),
    ("--check-timeout", "-1"), ("--check-timeout", "nan"), ("--check-timeout", "0"),
    ("--rate", "nan"), ("--rate", "inf"), ("--rate", "0"),
    ("--quiet", "nan"), ("--quiet", "-1"),
    ("--concurrency", "0"), ("--keys", "0"), ("--value-size", "-1"),
    ("--snapshot-every", "-1"), ("--snapshot-every", "0"),
    ("--nodes", "0"), ("--nodes", "100000"),
]


@pytest.mark.parametrize("flag,value", BAD_FLAGS)
def test_every_numeric_run_flag_is_finite_and_in_range(flag, value):
    with pytest.raises(UsageError) as e:
        _run_config(flag, value)
    assert str(e.value).startswith(f"{flag} must be") and "\n" not in str(e.value), e.value


def test_more_faults_than_a_schedule_holds_is_refused():
    with pytest.raises(UsageError, match="plans more than"):
        _run_config("--time", "86400", "--nemesis-interval", "0.0001")


@pytest.mark.parametrize("field,value", [
    ("time", "abc"), ("time", None), ("time", True), ("time", [1]), ("nodes", "3"), ("nodes", 2.5),
    ("nemesis", 5), ("nemesis", ["partition", 3]), ("endpoints", "a"), ("backend_options", [1]),
    ("seed", 1.5), ("workload", 3), ("out", 7), ("check_timeout", "x"), ("rate", {}),
    ("nemesis_interval", 1e999), ("system", ""),
])
def test_config_values_of_the_wrong_type_are_named(tmp_path, field, value):
    p = tmp_path / "config.json"
    p.write_text(json.dumps({field: value}))
    with pytest.raises(UsageError) as e:
        RunConfig.from_file(str(p))
    assert f"{p}: {field} must be" in str(e.value), e.value


def test_config_file_integral_floats_and_lists_are_normalized(tmp_path):
    p = tmp_path / "config.json"
    p.write_text(json.dumps({"nodes": 5.0, "nemesis": ["kill"], "endpoints": []}))
    cfg = RunConfig.from_file(str(p))
    assert cfg.nodes == 5 and type(cfg.nodes) is int and cfg.nemesis == ("kill",)


def test_every_run_setting_declares_its_kind():
    """A new RunConfig field cannot skip the check: each one names its kind."""
    for f in dataclasses.fields(RunConfig):
        assert isinstance(f.metadata.get("kind"), values.Kind), f.name
        f.metadata["kind"].check(RunConfig().__getattribute__(f.name))  # the defaults pass their own check


@pytest.mark.parametrize("args,needle", [
    (["run", "--time", "nan"], "--time must be a finite number of seconds"),
    (["run", "--nemesis-interval", "nan"], "--nemesis-interval must be"),
    (["demo", "--time", "inf"], "--time must be"),
    (["report", ".", "--timeout", "nan"], "argument --timeout: must be"),
    (["report", ".", "--timeout", "-1"], "argument --timeout: must be"),
    (["hunt", "stale-read", "--budget", "nan"], "argument --budget: must be"),
    (["hunt", "stale-read", "--attempts", "0"], "argument --attempts: must be"),
    (["explore", "--budget", "30x"], "argument --budget: must be a finite number of seconds above 0"),
    (["explore", "--budget", "nan"], "argument --budget: must be"),
    (["explore", "--run-time", "0"], "argument --run-time: must be"),
    (["explore", "--faults", "quake"], "unknown fault 'quake'"),
    (["explore", "--faults", "bandwidth"], "fault 'bandwidth' cannot run here: needs a backend that can throttle"),
    (["explore", "--read-modes", "fast"], "reference-kv has no read mode 'fast'"),
    (["explore", "--workloads", "bank"], "unknown workload 'bank'"),
    (["explore", "--unsafe-bug", "bogus"], "the reference KV has no such bug"),
    (["explore", "--backend", "moon"], "unknown backend 'moon'"),
    (["cluster", "status", "--nodes", "100"], "argument --nodes: must be an integer at least 1 and at most 15"),
    (["cluster", "up", "--snapshot-every", "0"], "argument --snapshot-every: must be"),
    (["check", "--timeout", "nan", "x.jsonl"], "argument --timeout: must be"),
    (["claims", "--seed", "1.5"], "invalid int value"),
])
def test_other_commands_numbers(args, needle, tmp_path):
    one_line_exit_2(splitbrain(*args[:1], *[str(tmp_path / "c") if a == "." else a for a in args[1:]]), needle)


@pytest.mark.parametrize("line", ["timeout = nan", "timeout = inf", "timeout = -1", "timeout = 0"])
def test_system_file_numbers(tmp_path, line):
    from splitbrain.systems.described import SystemFileError, load

    p = tmp_path / "s.toml"
    p.write_text(f'[node]\ncommand = "echo {{port}}"\n[client]\nprotocol = "redis"\n[ready]\n{line}\n')
    with pytest.raises(SystemFileError, match="ready.timeout: must be a finite number of seconds"):
        load(p)
    p.write_text('nodes = nan\n[node]\ncommand = "echo {port}"\n[client]\nprotocol = "redis"\n')
    with pytest.raises(SystemFileError, match="nodes:"):
        load(p)


@pytest.mark.timeout(10)  # before the fix a NaN made the planner loop, growing ~150 MB/s
@pytest.mark.parametrize("kw", [dict(interval=float("nan")), dict(fault_duration=float("nan")),
                                dict(duration=float("inf")), dict(duration=float("nan"))])
def test_the_fault_planner_refuses_what_never_ends(kw):
    from nemesis.faults import catalogue
    from nemesis.schedule import plan

    args = dict(duration=60.0, interval=5.0, fault_duration=3.0) | kw
    with pytest.raises(ValueError):
        plan(catalogue()[:1], 0, **args)


def test_unknown_planted_bug_is_refused_by_the_adapter():
    with pytest.raises(UsageError, match="no such bug"):
        _run_config("--unsafe-bug", "bogus")
