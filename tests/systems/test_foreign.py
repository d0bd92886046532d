"""Systems the suite has never seen, made for these tests, run as a new user would run
theirs: the verdict never lies, a dead load or lost data never hides, and stdout,
summary.json and report.html say the same."""
from __future__ import annotations

import json
import pathlib
import sys

import pytest
from system_parts import missing_for_faults

from .helpers import EXAMPLES, REPO, run_splitbrain, summary_of

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
HERE = pathlib.Path(__file__).resolve().parent
SHORT = ["--nemesis-interval", "2.5", "--fault-duration", "1.5", "--quiet", "2", "--concurrency", "6"]


def _client_table() -> str:
    """The http-json client of examples/systems/testkv.toml (its routes fit every test store)."""
    text = (EXAMPLES / "testkv.toml").read_text()
    return text[text.index("[client]"):]


def _report_text(run: pathlib.Path) -> str:
    import html
    import re

    return html.unescape(re.sub(r"<[^>]+>", " ", (run / "report.html").read_text()))


ADMIN_TOKEN = "kv-by-file-admin-token-0123456789"


def kv_by_file(tmp_path, leader='field = "leader"\n', extra="") -> pathlib.Path:
    """The reference KV as a user with only its binary would describe it, with a leader probe
    that names the leader but gives no term, and its admin API on a named port with a token."""
    toml = tmp_path / "kv-by-file.toml"
    toml.write_text(
        'name = "kv-by-file"\n[node]\n'
        'command = "{python} -m reference_kv --id {id} --listen {host}:{port} --peer-listen {host}:{peer_port} '
        '--peers {peers} --data-dir {data_dir} --peer-plaintext --admin-listen {host}:{admin_port}"\n'
        'per_link_dial = true\n'
        f'env = {{ REFERENCE_KV_ADMIN_TOKEN = "{ADMIN_TOKEN}" }}\n'
        '[node.ports]\nadmin = 8001\n'
        '[ready]\nprobe = "http"\nurl = "http://{host}:{port}/status"\n'
        '[leader]\nurl = "http://{host}:{port}/status"\n' + leader + extra +
        '[client]\nprotocol = "reference-kv"\n')
    return toml


def test_a_leader_probe_without_terms_under_partitions_gives_a_valid_verdict_with_elections(tmp_path):
    """The reference KV described by a file whose leader probe names the leader but no term.
    Before: every leader change was "two leaders in term 0", the run NOT LINEARIZABLE with no
    violation listed, and no election measured."""
    toml = kv_by_file(tmp_path)
    r, run = run_splitbrain(["--system", str(toml), "--nemesis", "partition-leader", "--time", "14", *SHORT],
                            tmp_path / "out", timeout=240)
    s = summary_of(run)
    assert s["linearizable"]["valid"] is True, s["linearizable"]
    assert s["verdict"] == "linearizable" and s["valid"] is True and r.returncode == 0, r.stdout
    assert s["leaders_per_term"] == [] and s["probe_terms"] is False
    assert s["election_ms"]["count"] >= 1, s["elections"]
    assert all(e["term"] is None and e["old"] != e["new"] for e in s["elections"])
    assert "NOT LINEARIZABLE" not in r.stdout and r.stdout.startswith("verdict: linearizable")
    assert "the leader probe gives no term" in r.stdout
    report = _report_text(run)
    assert "NOT linearizable" not in report and "NOT LINEARIZABLE" not in report


def _dying_client(tmp_path: pathlib.Path) -> pathlib.Path:
    (tmp_path / "dying_client.py").write_text(
        "import asyncio\n"
        "from userclient import TestKVClient\n\n"
        "class DyingClient(TestKVClient):\n"
        "    '''Bridges to asyncio badly: after 100 operations a CancelledError (a BaseException) escapes.'''\n"
        "    calls = 0\n\n"
        "    def read(self, key):\n"
        "        self.calls += 1\n"
        "        if self.calls > 100:\n"
        "            raise asyncio.CancelledError('the event loop behind this client was closed')\n"
        "        return super().read(key)\n")
    (tmp_path / "userclient.py").write_text((HERE / "userclient.py").read_text())
    toml = tmp_path / "system.toml"
    toml.write_text(f'nodes = 1\n[node]\ncommand = "{{python}} {EXAMPLES / "testkv.py"} --listen {{host}}:{{port}}"\n'
                    '[client]\nprotocol = "python:dying_client:DyingClient"\n')
    return toml


def test_a_client_that_dies_mid_run_is_flagged_with_its_reason(tmp_path):
    """Before: the users died quietly, the summary showed normal throughput and no warning."""
    toml = _dying_client(tmp_path)
    r, run = run_splitbrain(["--system", str(toml), "--nemesis", "none", "--time", "8", "--concurrency", "4"],
                            tmp_path / "out")
    s = summary_of(run)
    died = s["load"]["died"]
    assert len(died) == 4 and all("CancelledError" in d["error"] for d in died), died
    assert s["verdict"] == "unknown" and r.returncode == 3, r.stdout
    first = s["reasons"][0]["text"]
    assert first.startswith("all 4 load users died, the first at ") and "CancelledError" in first
    assert f"verdict: unknown: {first}" in r.stdout
    assert "load user 0 died" in r.stderr or "load user 1 died" in r.stderr  # said as it happened
    assert s["throughput_ops_s"] * 8 == pytest.approx(s["ops"]["ok"] - s["final_read"]["ok"], rel=0.05)
    assert first in _report_text(run)


def test_a_store_that_loses_acknowledged_writes_on_power_loss_is_caught_by_the_final_read(tmp_path):
    """A store that never fsyncs, under a coordinated power loss, with keys the workload has left
    behind (the reads workload moves to new keys every 100 operations per key). Before: nobody read
    those keys again, and the run was linearizable."""
    why = missing_for_faults(["power-loss-all"])
    if why:
        pytest.skip(why)
    toml = tmp_path / "forgetful.toml"
    store = HERE / "forgetful_kv.py"
    toml.write_text(f'name = "forgetful"\nnodes = 1\n[node]\n'
                    f'command = "{{python}} {store} --listen {{host}}:{{port}} --data {{data_dir}}"\n'
                    f'[ready]\nprobe = "http"\nurl = "http://{{host}}:{{port}}/health"\n' + _client_table())
    r, run = run_splitbrain(["--system", str(toml), "--workload", "reads", "--keys", "2",
                             "--nemesis", "power-loss-all", "--time", "9", *SHORT], tmp_path / "out", timeout=240)
    s = summary_of(run)
    assert '"power-loss"' in (run / "history.jsonl").read_text().replace(" ", "")
    assert s["final_read"]["keys"] >= 5 and s["final_read"]["ok"] == s["final_read"]["keys"], s["final_read"]
    assert s["verdict"] == "NOT LINEARIZABLE" and r.returncode == 1, r.stdout
    final = {w["key"] for w in s["linearizable"]["witnesses"]
             if any(op["process"] >= 999_000_000 for op in w["ops"])}
    assert final, s["linearizable"]["witnesses"][:3]  # the final read is what shows the loss
    reason = s["reasons"][0]["text"]
    assert f"verdict: NOT LINEARIZABLE: {reason}" in r.stdout  # stdout, summary and report agree
    assert reason in _report_text(run)
    assert "verdict <b class=\"bad\">NOT linearizable</b>" in (run / "linearizability.html").read_text()



def test_a_process_client_in_another_language_runs_end_to_end(tmp_path):
    """examples/systems/testkv-node.toml: a Node.js client per load user, under pauses."""
    import shutil

    if shutil.which("node") is None:
        pytest.skip("node is not installed (apt-get install nodejs)")
    r, run = run_splitbrain(["--system", str(EXAMPLES / "testkv-node.toml"), "--nemesis", "pause",
                             "--time", "8", *SHORT], tmp_path / "out")
    s = summary_of(run)
    assert r.returncode == 0 and s["verdict"] == "linearizable", r.stdout
    assert s["ops"]["ok"] > 300 and s["final_read"]["ok"] == s["final_read"]["keys"] > 0
    assert s["load"]["died"] == []
    served = {json.loads(line).get("node") for line in (run / "history.jsonl").read_text().splitlines()[:200]}
    assert any(n and ":" in n for n in served)  # the client said which node served each operation
    assert sorted(p.name for p in (run / "clients").iterdir())[:1] == ["user-0.log"]


def test_an_asyncio_process_client_runs_end_to_end(tmp_path):
    toml = tmp_path / "testkv-asyncio.toml"
    toml.write_text((EXAMPLES / "testkv-node.toml").read_text()
                    .replace('command = "node {here}/testkv-client.js"',
                             f'command = "{{python}} {EXAMPLES / "testkv_asyncio.py"}"')
                    .replace("{here}/testkv.py", str(EXAMPLES / "testkv.py")))
    r, run = run_splitbrain(["--system", str(toml), "--nemesis", "none", "--time", "5"], tmp_path / "out")
    s = summary_of(run)
    assert r.returncode == 0 and s["verdict"] == "linearizable" and s["ops"]["ok"] > 200, r.stdout
    assert s["ops"]["cas_mismatch"] > 0  # cas answers come back as the protocol says


def test_the_python_client_example_runs(tmp_path):
    r, run = run_splitbrain(["--system", str(EXAMPLES / "testkv-python.toml"), "--nemesis", "none", "--time", "4"],
                            tmp_path / "out")
    s = summary_of(run)
    assert r.returncode == 0 and s["verdict"] == "linearizable" and s["ops"]["ok"] > 100, r.stdout


# A transfer as a user would write it for the reference KV's admin API, with nothing but Python.
TRANSFER = ('transfer = ["{python}", "-c", "import urllib.request as u; u.urlopen(u.Request(\'http://{leader_host}:'
            '{admin_port}/admin/transfer-leader\', data=b\'{{\\"to\\": {id}}}\', method=\'POST\', '
            f'headers={{{{\'Authorization\': \'Bearer {ADMIN_TOKEN}\'}}}}), timeout=5)"]\n')


def test_a_leader_transfer_through_the_system_files_command(tmp_path):
    """Before: refused, "needs transfer_leader"."""
    r, run = run_splitbrain(["--system", str(kv_by_file(tmp_path, extra=TRANSFER)), "--nemesis", "leader-transfer",
                             "--time", "10", *SHORT], tmp_path / "out")
    s = summary_of(run)
    events = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    moves = [e["value"] for e in events if e.get("f") == "transfer-leader"]
    assert moves and all(m["to"] != m["from"] for m in moves), moves
    assert not [e for e in events if e.get("f", "").endswith("-failed")], r.stderr[-2000:]
    assert s["verdict"] == "linearizable" and s["election_ms"]["count"] >= len(moves) - 1, s["elections"]


def test_membership_through_the_system_files_commands(tmp_path):
    """Before: refused with the suite's method names, "needs remove_member, add_member"."""
    log = tmp_path / "members.log"
    echo = (f'["{{python}}", "-c", "import sys; open(sys.argv[1], \'a\').write(\' \'.join(sys.argv[2:]) + '
            f'\'\\\\n\')", "{log}"')
    toml = tmp_path / "system.toml"
    toml.write_text(f'nodes = 1\n[node]\ncommand = "{{python}} {EXAMPLES / "testkv.py"} --listen {{host}}:{{port}}"\n'
                    f'[membership]\nremove = {echo}, "remove", "{{id}}", "{{host}}:{{port}}"]\n'
                    f'add = {echo}, "add", "{{id}}"]\n' + _client_table())
    r, run = run_splitbrain(["--system", str(toml), "--nemesis", "membership", "--time", "8", *SHORT],
                            tmp_path / "out")
    history = (run / "history.jsonl").read_text()
    assert '"remove-member"' in history and '"add-member"' in history, r.stderr[-2000:]
    lines = log.read_text().splitlines()
    assert lines[0].startswith("remove 1 127.") and lines[1] == "add 1" and len(lines) % 2 == 0


def test_no_leader_agreed_on_shows_each_nodes_last_answer(tmp_path):
    """A leader field the system does not have: the run stops before the load, saying what each
    node's probe answered."""
    toml = kv_by_file(tmp_path, leader='field = "leaderId"\n')
    toml.write_text(toml.read_text().replace("[ready]\n", "[ready]\ntimeout = 4\n"))
    r = subprocess_run(["--system", str(toml), "--nemesis", "none", "--time", "5"], tmp_path / "out")
    assert r.returncode == 2 and "no leader was agreed on within 4s" in r.stderr, r.stderr[-2000:]
    line = r.stderr.strip().splitlines()[-1]
    for n in "123":
        assert f"node {n}: {{" in line and '"leader": ' in line, line


def subprocess_run(args, out):
    import subprocess

    return subprocess.run([sys.executable, "-m", "splitbrain", "run", *args, "--out", str(out)],
                          capture_output=True, text=True, timeout=150, cwd=REPO)


def test_a_fault_the_system_cannot_run_is_refused_before_any_node_starts(tmp_path):
    """A system file without [membership]: before, the nodes started and the fault was refused with the
    suite's own method names ("needs remove_member, add_member")."""
    out = tmp_path / "out"
    r = subprocess_run(["--system", str(EXAMPLES / "testkv.toml"), "--nemesis", "membership", "--time", "5"], out)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert r.stderr.strip().splitlines()[-1].endswith(
        "fault 'membership' cannot run here: needs a system whose membership the suite can change "
        "(the reference KV on a backend that can kill and wipe nodes, or [membership] remove and add commands "
        "in a system file)")
    assert not out.exists() or not [p for p in out.iterdir() if p.name != "latest"]  # nothing started, no run


def test_a_gevent_timeout_that_escapes_a_client_is_an_unknown_outcome_not_a_dead_user(tmp_path):
    (tmp_path / "userclient.py").write_text((HERE / "userclient.py").read_text())
    (tmp_path / "leaky_client.py").write_text(
        "import gevent\n"
        "from userclient import TestKVClient\n\n"
        "class LeakyClient(TestKVClient):\n"
        "    '''Times its writes with gevent.Timeout and forgets to catch it, every 20th write.'''\n"
        "    writes = 0\n\n"
        "    def write(self, key, value):\n"
        "        self.writes += 1\n"
        "        with gevent.Timeout(0.001 if self.writes % 20 == 0 else 5):\n"
        "            if self.writes % 20 == 0:\n"
        "                gevent.sleep(0.01)\n"
        "            return super().write(key, value)\n")
    toml = tmp_path / "system.toml"
    toml.write_text(f'nodes = 1\n[node]\ncommand = "{{python}} {EXAMPLES / "testkv.py"} --listen {{host}}:{{port}}"\n'
                    '[client]\nprotocol = "python:leaky_client:LeakyClient"\n')
    r, run = run_splitbrain(["--system", str(toml), "--nemesis", "none", "--time", "4", "--concurrency", "3"],
                            tmp_path / "out")
    s = summary_of(run)
    assert s["load"]["died"] == [] and s["verdict"] == "linearizable", (s["load"], r.stdout)
    escaped = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines() if "escaped" in line]
    assert escaped and all(e["type"] == "info" and e["error"].startswith("escaped Timeout") for e in escaped)
