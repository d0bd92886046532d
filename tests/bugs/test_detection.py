"""One regression test per planted bug: its campaign, a fixed seed, detection asserted.

The control runs the same campaign on the safe KV, which must stay valid; here
only the two that test a safety claim new in this KV's design (the lease's drift
bound, snapshots of what is already committed: the commit-monotonicity check)
are controlled here, every campaign in bench/bugs. Each attempt is a whole
splitbrain run (cluster, load, faults, check) of 15 s of load.
"""
from __future__ import annotations

import pytest

from splitbrain import bugs

# Every catalogued bug whose campaign finds it (see bench/bugs for k of n seeds).
# readindex-before-term-commit is not here: its campaign reaches the planted branch but its
# reads rarely land in the few round trips it lasts; test_new_leader_window.py reads there directly.
DETECTED = ("stale-read", "lease-no-drift-guard", "lease-ignores-pause", "no-checkquorum", "no-fsync",
            "retry-duplicate", "vote-not-persisted", "snapshot-lost-entries")
CONTROLLED = ("lease-no-drift-guard", "snapshot-lost-entries")
SEED = 0
# Attempts per test from the detection rate bench/bugs measured per seed (7/10 and 8/10 for these
# two, 9-10/10 for the rest): enough that a miss means the bug is gone, not bad luck (< 1-2%).
ATTEMPTS = {"lease-no-drift-guard": 4, "snapshot-lost-entries": 3}


@pytest.mark.integration
@pytest.mark.e2e
@pytest.mark.parametrize("name", DETECTED)
def test_campaign_finds_the_planted_bug(tmp_path, name):
    bug = bugs.get(name)
    result = bugs.hunt(bug, seed=SEED, out=str(tmp_path), attempts=ATTEMPTS.get(name, 2))
    assert result.found, f"{name} not found in {[(a.seed, a.valid, a.run_dir) for a in result.attempts]}"
    assert result.attempts[-1].valid is False


@pytest.mark.integration
@pytest.mark.e2e
@pytest.mark.parametrize("name", CONTROLLED)
def test_same_campaign_on_the_safe_kv_is_valid(tmp_path, name):
    result = bugs.hunt(bugs.get(name), seed=SEED, out=str(tmp_path), attempts=1, safe=True)
    assert not result.found and result.attempts[0].valid is True, result.attempts
