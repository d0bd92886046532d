"""`splitbrain simulate` and its world: one seed one history (byte for byte), planted bugs found and
shrunk, the safe KV passing, failures kept as run directories, bad input one line and exit 2."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from reference_kv.sim import world
from splitbrain import simulation
from splitbrain.cli import main

pytestmark = pytest.mark.unit


def _history_bytes(out: world.Outcome) -> bytes:
    return "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in out.history).encode()


def test_a_seed_replays_byte_for_byte(tmp_path):
    cfg = simulation.Config(duration=6.0)
    a = world.simulate(11, simulation.schedule_of(11, cfg), root=tmp_path / "a")
    b = world.simulate(11, simulation.schedule_of(11, cfg), root=tmp_path / "b")
    assert a.schedule.faults, "the seed drew no fault: the test would prove little"
    assert len(a.history) > 100 and _history_bytes(a) == _history_bytes(b)
    assert a.trace == b.trace
    c = world.simulate(12, simulation.schedule_of(12, cfg), root=tmp_path / "c")
    assert _history_bytes(c) != _history_bytes(a)


def test_the_schedule_is_the_seeds_and_a_given_one_is_used_as_given():
    s = world.plan(5)
    assert s == world.plan(5) and s != world.plan(6)
    assert world.Schedule.from_json(json.loads(json.dumps(s.as_json()))) == s
    only = world.plan(5, faults=("pause",))
    assert only.faults and {f.kind for f in only.faults} == {"pause"}


def test_the_safe_kv_passes_seeds_with_every_fault(tmp_path):
    cfg = simulation.Config(duration=8.0)
    kinds = set()
    for seed in range(4):
        r = simulation.run_seed(seed, cfg)
        kinds |= {f.kind for f in r.outcome.schedule.faults}
        assert not r.failed, (seed, r.reasons)
        assert r.checked["valid"] is True
    assert len(kinds) >= 6, kinds


def test_a_planted_bug_is_found_shrunk_and_kept(tmp_path):
    """no-fsync: acknowledged entries sit unsynced; a power loss of a majority loses them."""
    cfg = simulation.Config(bug="no-fsync", duration=10.0, faults=("power-loss", "partition", "pause"))
    res = simulation.search(cfg, seeds=10, out=tmp_path, stop_at_first=True)
    assert res.failures, "no-fsync not found in 10 seeds"
    r, small, path = res.failures[0]
    assert len(small.faults) <= len(r.outcome.schedule.faults) and small.duration <= r.outcome.schedule.duration
    assert any(f.kind == "power-loss" for f in small.faults)
    assert simulation.run_seed(r.seed, cfg, small).failed  # the shrunk schedule still fails
    for name in ("history.jsonl", "trace.jsonl", "simulation.json", "summary.json", "report.html"):
        assert (path / name).is_file(), name
    meta = json.loads((path / "simulation.json").read_text())
    assert meta["seed"] == r.seed and meta["unsafe_bug"] == "no-fsync" and meta["shrunk"]["faults"]


def test_cli_exit_codes_and_replay(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["simulate", "--seeds", "1", "--duration", "3", "--out", str(out)]) == 0
    assert main(["simulate", "--seeds", "3", "--duration", "6", "--unsafe-bug", "no-fsync", "--faults",
                 "power-loss", "--no-shrink", "--stop", "--out", str(out)]) == 1
    printed = capsys.readouterr()
    assert "FAILED" in printed.out and "seeds, 1 failed" in printed.out and "seeds/min" in printed.err
    run_dir = next(p for p in out.iterdir() if p.name.startswith("2") and "no-fsync" in p.name)
    assert main(["simulate", "--replay", str(run_dir)]) == 1
    replayed = capsys.readouterr().out
    assert "fault" in replayed and "FAILED" in replayed
    # A run directory of another configuration, a seed that is no number, an unknown bug: one line, exit 2.
    assert main(["simulate", "--replay", str(run_dir), "--regions"]) == 2
    assert "another configuration" in capsys.readouterr().err
    for argv in (["--replay", "x1"], ["--first-seed", "abc"], ["--unsafe-bug", "nope"], ["--faults", "meteor"],
                 ["--seeds", "0"]):
        assert main(["simulate", *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err


def test_a_replay_in_another_process_gives_the_same_history(tmp_path):
    """No global random, hash order or wall clock on the simulated paths: a fresh interpreter (another
    hash seed) replays the same bytes."""
    code = ("import json,sys; from reference_kv.sim import world; "
            "o = world.simulate(3, world.plan(3, duration=4.0), root=sys.argv[1]); "
            "sys.stdout.write(''.join(json.dumps(e, separators=(',', ':')) + '\\n' for e in o.history))")
    runs = [subprocess.run([sys.executable, "-c", code, str(tmp_path / str(k))], capture_output=True, check=True,
                           env={"PYTHONHASHSEED": str(k), "PATH": "/usr/bin:/bin"}, timeout=120).stdout
            for k in (1, 2)]
    assert runs[0] and runs[0] == runs[1]


def test_regions_seed_0_a_merge_is_decided_alike_on_every_replica():
    """Found by `splitbrain simulate --regions` at its first seed: store 2 restarted with the source
    Region's prepare applied but unsynced, so its source replica was not merging when the target's
    COMMIT_MERGE applied; it skipped the merge its peers made (Region 10 held [k2, k3) on store 2 and
    [k2, k4) on stores 1 and 3 at applied index 3). The source's log is now caught up first."""
    r = simulation.run_seed(0, simulation.Config(regions=True))
    assert not r.failed, r.reasons


def test_regions_seed_29_a_store_without_the_keys_region_sends_the_client_elsewhere():
    """Found by `splitbrain simulate --regions` at seed 29: store 3 was down while Region 2 split at
    k6, came back and took Region 2's snapshot ([k3, k6)), so it held no Region for keys from k6 on
    until Region 5's snapshot came; its router raised RuntimeError (a 500) for those keys. It now
    says not-leader, and the client asks another store."""
    r = simulation.run_seed(29, simulation.Config(regions=True))
    assert not r.failed, r.reasons
