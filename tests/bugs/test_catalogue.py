"""The catalogue, the CLI around it and the planted branches that need no cluster."""
from __future__ import annotations

import json
import pytest

from reference_kv.node import UNSAFE_BUGS
from reference_kv.raft.types import HardState
from reference_kv.statemachine import StateMachine, encode_command
from reference_kv.storage.memory import MemoryStorage
from splitbrain import bugs
from splitbrain.config import RunConfig


@pytest.mark.unit
def test_every_catalogued_bug_is_planted_and_every_planted_bug_catalogued():
    assert sorted(bugs.BY_NAME) == sorted(UNSAFE_BUGS)


@pytest.mark.unit
def test_campaigns_are_valid_run_configs_with_the_bug_planted():
    for bug in bugs.CATALOGUE:
        cfg = bugs.run_config(bug, seed=7, out="results")
        assert cfg.unsafe_bug == bug.name and cfg.seed == 7
        assert 10 <= cfg.time <= 25, f"{bug.name}: attempts must stay short for CI"
        assert bugs.run_config(bug, seed=7, out="results", safe=True).unsafe_bug is None


@pytest.mark.unit
def test_etcd_control_drops_the_reference_kv_knobs_and_moves_link_faults_to_netns():
    cfg = bugs.run_config(bugs.get("no-checkquorum"), seed=1, out="r", system="etcd", safe=True)
    assert cfg.system == "etcd" and cfg.read_mode == RunConfig.read_mode and cfg.unsafe_bug is None
    assert cfg.backend == "netns"  # partition-leader cuts links
    cfg = bugs.run_config(bugs.get("no-fsync"), seed=1, out="r", system="etcd", safe=True)
    assert cfg.backend == "local"  # power loss is a process and disk fault


def _cli(capsys, *args):
    from splitbrain.cli import main

    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.unit
def test_bugs_json_lists_name_description_campaign(capsys):
    code, out, err = _cli(capsys, "bugs", "--json")
    assert code == 0, err
    listed = json.loads(out)
    assert [b["name"] for b in listed] == [b.name for b in bugs.CATALOGUE]
    assert all(b["description"] and b["campaign"]["overrides"]["nemesis"] for b in listed)


@pytest.mark.unit
@pytest.mark.parametrize("args, message", [
    (("hunt", "no-such-bug"), "unknown bug 'no-such-bug'"),
    (("hunt", "stale-read", "--attempts", "0"), "--attempts: must be an integer at least 1"),
    (("hunt", "stale-read", "--system", "etcd"), "run etcd as the control with --safe"),
    (("hunt", "stale-read", "--system", "redis", "--safe"), "unknown --system"),
])
def test_hunt_bad_input_is_one_line(capsys, args, message):
    code, _, err = _cli(capsys, *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def _apply_twice(unsafe_bug):
    sm = StateMachine(MemoryStorage(), unsafe_bug=unsafe_bug)
    sm.load()
    from reference_kv.raft.types import Entry
    cmd = encode_command("a", 0, "client:1", "k", "x")
    ents = [Entry(1, 1, data=cmd), Entry(1, 2, data=cmd)]  # the original and the client's retry
    sm.persist_and_apply(ents, HardState(1, 0, 2), ents, False)
    return json.loads(sm.read("k"))


@pytest.mark.unit
def test_retry_duplicate_is_one_branch_of_the_session_check():
    assert _apply_twice(None) == "x"
    assert _apply_twice("retry-duplicate") == "xx"
