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

# Catalogued bugs whose campaign finds them on a quiet machine as on a loaded one (bench/bugs
# measures k of n seeds for every bug). Not gated here, tracked in issue #8:
# - readindex-before-term-commit: its campaign reaches the planted branch but its reads rarely land
#   in the few round trips it lasts; test_new_leader_window.py reads there directly;
# - no-checkquorum (9/10 at load 10-18) and snapshot-lost-entries (8/10 at load 10-18): their
#   campaigns were tuned under load and miss on a quiet machine (0/2 and 0/3 in a CI dry run).
DETECTED = ("stale-read", "lease-no-drift-guard", "lease-ignores-pause", "no-fsync",
            "retry-duplicate", "vote-not-persisted")
CONTROLLED = ("lease-no-drift-guard", "snapshot-lost-entries")
SEED = 0
# Attempts per test from the detection rate measured per seed (lease-no-drift-guard 7/10;
# vote-not-persisted needed its second attempt in a CI dry run): a miss should mean the bug is gone.
ATTEMPTS = {"lease-no-drift-guard": 4, "vote-not-persisted": 3}


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
