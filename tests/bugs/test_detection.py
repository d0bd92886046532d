"""One regression test per planted bug: its campaign, a fixed seed, detection asserted.

The control runs the same campaign on the safe KV, which must stay valid; here
only the two that test a safety claim new in this KV's design (the lease's drift
bound, snapshots of what is already committed: the commit-monotonicity check)
are controlled here, every campaign in bench/bugs. Each attempt is a whole
splitbrain run (cluster, load, faults, check) of 15-25 s of load.
"""
from __future__ import annotations

import pytest
from system_parts import missing_for_faults

from splitbrain import bugs

# Catalogued bugs whose campaign finds them in >= 9 of 10 seeds with the machine as loaded as it gets
# (bench/bugs, load average 12-23 on 2 cores): their faults act on what the nodes report (GET /status),
# not on fixed timing. Not gated here, tracked in issue #8:
# - snapshot-lost-entries (12 of 15 seeds, about half the attempts): the race needs the crashed follower
#   back and the leader unchanged before the leader's next snapshot; a loaded machine restarts a node in
#   up to 3.5 s and elects anew;
# - vote-not-persisted: 1 of 5 seeds after the node's pipelined write path (e17a860); 5 of 5 since
#   kill-voter holds the candidate's link only once its vote request arrived, but after 2-4 attempts each.
DETECTED = ("stale-read", "lease-no-drift-guard", "lease-ignores-pause", "no-checkquorum",
            "readindex-before-term-commit", "no-fsync", "retry-duplicate")
CONTROLLED = ("lease-no-drift-guard", "snapshot-lost-entries")
SEED = 0
# Attempts per test from the detection rate per attempt measured by bench/bugs under load
# (lease-no-drift-guard needed a second attempt in 5 of 10 seeds): a miss in all of them should
# mean the bug is gone, not bad luck.
ATTEMPTS = {"lease-no-drift-guard": 3, "readindex-before-term-commit": 3}


def skip_without_parts(bug: bugs.Bug) -> None:
    why = missing_for_faults(bug.campaign.overrides.get("nemesis", ()))
    if why:
        pytest.skip(f"{bug.name}'s campaign: {why}")


@pytest.mark.integration
@pytest.mark.e2e
@pytest.mark.parametrize("name", DETECTED)
def test_campaign_finds_the_planted_bug(tmp_path, name):
    bug = bugs.get(name)
    skip_without_parts(bug)
    result = bugs.hunt(bug, seed=SEED, out=str(tmp_path), attempts=ATTEMPTS.get(name, 2))
    assert result.found, f"{name} not found in {[(a.seed, a.valid, a.run_dir) for a in result.attempts]}"
    assert result.attempts[-1].valid is False


@pytest.mark.integration
@pytest.mark.e2e
@pytest.mark.parametrize("name", CONTROLLED)
def test_same_campaign_on_the_safe_kv_is_valid(tmp_path, name):
    skip_without_parts(bugs.get(name))
    result = bugs.hunt(bugs.get(name), seed=SEED, out=str(tmp_path), attempts=1, safe=True)
    assert not result.found and result.attempts[0].valid is True, result.attempts
