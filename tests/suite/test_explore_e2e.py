"""`splitbrain explore` end to end: real clusters on the local backend, a planted bug found and shrunk,
the safe KV left valid. Each run is a whole splitbrain run of a few seconds of load."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from splitbrain import explore
from splitbrain.config import RunConfig

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def _explore(tmp_path, *args, timeout=240):
    r = subprocess.run([sys.executable, "-m", "splitbrain", "explore", "--out", str(tmp_path), "--run-time", "5",
                        *args], capture_output=True, text=True, timeout=timeout, cwd=tmp_path)
    [d] = [p for p in tmp_path.iterdir() if p.name.endswith("-explore")]
    return r, d


def test_a_planted_bug_is_found_and_shrunk_to_its_fewest_faults(tmp_path):
    # stale-read: follower reads from local state; the draw may add a partition or a kill, which it needs not
    r, d = _explore(tmp_path, "--unsafe-bug", "stale-read", "--read-modes", "follower", "--workloads", "register",
                    "--faults", "partition-one,kill-one", "--budget", "60", "--shrink-tries", "1", "--reproduce", "1")
    assert r.returncode == 1, r.stderr[-3000:]
    assert "[explore] run 1: VIOLATION" in r.stderr and "[explore] shrunk " in r.stderr
    params = json.loads((d / explore.PARAMS).read_text())
    assert params["status"] == "violation found"
    rows = [json.loads(line) for line in (d / explore.INDEX).read_text().splitlines()]
    first = rows[0]
    assert first["role"] == "explore" and first["valid"] is False and set(first["faults"]) <= {"partition-one", "kill-one"}
    [s] = params["shrunk"]
    assert s["from"] == first["run"] and set(s["faults"]) <= set(first["faults"]) and s["attempts"] == 1
    assert {r["role"] for r in rows[1:]} <= {"shrink", "reproduce"} and rows[-1]["role"] == "reproduce"
    # every run repeats with run --config: the shrunk one is a config with only the faults left
    cfg = RunConfig.from_file(s["config"]).validate()
    assert list(cfg.nemesis) == s["faults"] and cfg.unsafe_bug == "stale-read" and cfg.nemesis_mode == "combined"
    text = r.stdout
    assert text.startswith("1 runs, ") and "1 violation" in text.splitlines()[0] and "shrunk: " in text
    html = (d / explore.INDEX_HTML).read_text()
    for row in rows:
        assert f'href="runs/{row["run"]}/report.html"' in html and (d / "runs" / row["run"] / "report.html").is_file()
    # the index rebuilt from what is on disk says the same
    (d / explore.INDEX_TEXT).unlink()
    again = subprocess.run([sys.executable, "-m", "splitbrain", "report", str(d)], capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 1 and again.stdout == (d / explore.INDEX_TEXT).read_text()
    assert (d / explore.INDEX_TEXT).read_text() in text


def test_the_safe_kv_explored_stays_valid(tmp_path):
    r, d = _explore(tmp_path, "--max-runs", "2", "--budget", "120", "--seed", "1")
    assert r.returncode == 0, (r.stderr[-3000:], r.stdout)
    rows = [json.loads(line) for line in (d / explore.INDEX).read_text().splitlines()]
    assert len(rows) == 2 and all(x["valid"] is True and x["ops"] > 0 for x in rows)
    assert json.loads((d / explore.PARAMS).read_text())["status"] == "budget spent, no violation"
    assert r.stdout.splitlines()[0].startswith("2 runs, ") and "0 violations" in r.stdout.splitlines()[0]


def test_the_new_faults_on_the_reference_kv_a_wiped_member_is_refused_and_a_kill_storm_is_survived(tmp_path):
    r = subprocess.run([sys.executable, "-m", "splitbrain", "run", "--nemesis", "wipe-one,kill-storm", "--time", "9",
                        "--quiet", "2", "--nemesis-interval", "1", "--fault-duration", "2", "--seed", "3",
                        "--out", str(tmp_path)], capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    events = [json.loads(line) for line in (tmp_path / "latest" / "history.jsonl").read_text().splitlines()]
    nemesis = [e for e in events if e["process"] == "nemesis" and e.get("fault")]
    wiped = [e["value"] for e in nemesis if e["fault"] == "wipe-one" and e.get("phase") == "start"]
    storms = [e["value"] for e in nemesis if e["fault"] == "kill-storm" and e.get("phase") == "stop"]
    assert wiped and storms, [e["f"] for e in nemesis]
    # the reference KV refuses a member that lost its data (it must never vote as itself again), and the
    # suite takes it back its way: removed, started empty with --join, added as a learner, promoted
    assert all(w["refused"] == w["nodes"] for w in wiped)
    back = [e["value"] for e in nemesis if e["fault"] == "wipe-one" and e.get("phase") == "stop"]
    assert back and all(b["procedure"] == "remove, add, restart" and b["refused"] == [] for b in back), back
    assert all(s["kills"] >= 2 for s in storms)


def test_the_reference_kv_serves_no_torn_or_corrupted_data(tmp_path):
    """A torn power loss, a bit flip and a truncation of one node's files (FUSE: root): the node may refuse
    to start, never serve what it lost or what was damaged."""
    from system_parts import missing

    why = missing("fuse")
    if why:
        pytest.skip(why)
    r = subprocess.run([sys.executable, "-m", "splitbrain", "run", "--nemesis", "power-loss-torn,bitflip-one,truncate-one",
                        "--nemesis-mode", "combined", "--time", "12", "--quiet", "2", "--nemesis-interval", "1",
                        "--fault-duration", "1", "--seed", "0", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    events = [json.loads(line) for line in (tmp_path / "latest" / "history.jsonl").read_text().splitlines()]
    done = {e["fault"] for e in events if e["process"] == "nemesis" and e.get("phase") == "start"}
    assert done == {"power-loss-torn", "bitflip-one", "truncate-one"}, done  # seed 0 plans all three
    assert not [e for e in events if e["process"] == "nemesis" and e["f"].endswith("-failed")]


def test_runs_that_cannot_run_are_recorded_and_three_in_a_row_stop_it_with_one_line(tmp_path):
    system = tmp_path / "dead.toml"  # a node that exits at once: every run is refused as it starts
    system.write_text('[node]\ncommand = "sh -c \'exit 3\'"\n[client]\nprotocol = "redis"\n')
    r, d = _explore(tmp_path, "--system", str(system), "--budget", "60", timeout=120)
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith(
        "splitbrain explore: error: 3 runs in a row could not run; the last: dead: node 1 exited during start-up"), \
        r.stderr[-2000:]
    rows = [json.loads(line) for line in (d / explore.INDEX).read_text().splitlines()]
    assert len(rows) == explore.MAX_ERRORS and all(x["verdict"] == "error" and "exited" in x["error"] for x in rows)
    assert all((d / "runs" / x["run"] / "config.json").is_file() for x in rows)  # each its own run directory
    assert "(stopped: 3 runs in a row could not run)" in (d / explore.INDEX_TEXT).read_text().splitlines()[0]


def test_membership_churn_under_partitions_on_the_reference_kv(tmp_path):
    """A voter removed while links are cut, then added back the README's way (killed, emptied, started with
    --join, added as a learner, promoted once caught up): the history stays linearizable and the nodes'
    own configurations show the member out, then a voter again."""
    r = subprocess.run([sys.executable, "-m", "splitbrain", "run", "--nemesis", "membership,partition-one,partition-halves",
                        "--nemesis-mode", "combined", "--time", "14", "--quiet", "3", "--nemesis-interval", "1",
                        "--fault-duration", "3", "--seed", "2", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    run = tmp_path / "latest"
    events = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    nemesis = [e for e in events if e["process"] == "nemesis" and e.get("fault")]
    assert not [e for e in nemesis if e["f"].endswith("-failed")], [e["f"] for e in nemesis]
    removed = [n for e in nemesis if e["fault"] == "membership" and e.get("phase") == "start" for n in e["value"]["nodes"]]
    back = [n for e in nemesis if e["fault"] == "membership" and e.get("phase") == "stop" for n in e["value"]["nodes"]]
    assert removed and back == removed, [e["f"] for e in nemesis]
    assert {e["fault"] for e in nemesis} >= {"membership", "partition-one"} or \
        {e["fault"] for e in nemesis} >= {"membership", "partition-halves"}
    # the nodes' configurations as the monitor saw them: the removed node out of the voters for a while,
    # every node a voter again at the end
    seen = [json.loads(line) for line in (run / "status.jsonl").read_text().splitlines()]
    voters = [tuple(st["voters"]) for s in seen for st in s["nodes"].values() if st and st.get("voters")]
    assert any(removed[0] not in [str(v) for v in vs] for vs in voters), voters[:5]
    last = [st for st in seen[-1]["nodes"].values() if st]
    assert last and all(sorted(map(str, st["voters"])) == ["1", "2", "3"] for st in last), seen[-1]
    assert json.loads((run / "summary.json").read_text())["valid"] is True
