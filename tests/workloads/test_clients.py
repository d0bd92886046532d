"""Clients against real servers: etcd's gateway, a dead port, a port that never answers."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from workloads.clients import make_client
from workloads.errors import DefiniteError, IndeterminateError
from workloads.recorder import HistoryFile, Recorder

pytestmark = pytest.mark.integration


def test_etcd_client_implements_every_operation(etcd):
    client = make_client("etcd", etcd.endpoints, timeout=2.0)
    try:
        assert client.read("t-reg") is None
        client.write("t-reg", 7)
        assert client.read("t-reg") == 7
        assert client.cas("t-reg", 8, 9) is False
        assert client.cas("t-reg", 7, 9) is True
        assert client.read("t-reg") == 9
        assert client.cas("t-new", None, 1) is True and client.cas("t-new", None, 2) is False
        client.delete("t-reg")
        assert client.read("t-reg") is None
        client.append("t-str", "ab")
        client.append("t-str", "c")
        client.put("t-kv", "v")
        assert (client.get("t-str"), client.get("t-kv")) == ("abc", "v")
        assert client.node in etcd.endpoints
        with pytest.raises(DefiniteError):  # append onto a number is refused before anything is written
            client.append("t-new", "x")
    finally:
        client.close()
    follower = make_client("etcd", etcd.endpoints, read_mode="serializable", start=2)
    try:
        deadline = time.monotonic() + 5  # a serializable read may lag; it must catch up
        while follower.read("t-str") != "abc" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert follower.read("t-str") == "abc"
        assert follower.node == etcd.endpoints[2]
    finally:
        follower.close()


def test_etcd_client_moves_past_a_dead_member(etcd, dead_address):
    client = make_client("etcd", [dead_address, *etcd.endpoints], timeout=2.0)
    try:
        client.write("t-skip", 1)
        assert client.node == etcd.endpoints[0]
    finally:
        client.close()


def _record_one(tmp_path, client, f, key, value=None):
    rec = Recorder(HistoryFile(tmp_path / "h.jsonl"), "t")
    done = rec.perform(client, rec.new_process(), f, key, value)
    rec.history.close()
    events = [json.loads(line) for line in (tmp_path / "h.jsonl").read_text().splitlines()]
    assert [e["type"] for e in events] == ["invoke", done.type]
    return events[1]


@pytest.mark.parametrize("system", ["etcd", "reference-kv"])
def test_a_dead_port_records_fail(tmp_path, dead_address, system):
    client = make_client(system, [dead_address], timeout=0.5)
    with pytest.raises(DefiniteError):
        client.write("k", 1)
    event = _record_one(tmp_path, client, "write", "k", 2)
    assert event["type"] == "fail" and event["error"]


@pytest.mark.parametrize("system", ["etcd", "reference-kv"])
def test_a_server_that_accepts_then_hangs_records_info(tmp_path, hanging_address, system):
    client = make_client(system, [hanging_address], timeout=0.3)
    started = time.monotonic()
    with pytest.raises(IndeterminateError):
        client.cas("k", 1, 2)
    assert time.monotonic() - started < 3
    event = _record_one(tmp_path, client, "write", "k", 1)
    assert event["type"] == "info" and event["error"]
    # The same loss on a read is a definite nothing: reads change no state.
    (tmp_path / "read").mkdir()
    assert _record_one(tmp_path / "read", client, "read", "k")["type"] == "fail"


WRITER = """
import sys
from workloads.recorder import HistoryFile
h = HistoryFile(sys.argv[1])
for i in range(2000):
    h.record({"process": sys.argv[2], "type": "info", "f": "x", "value": "p" * 300, "i": i})
"""


def test_two_processes_appending_to_one_history_keep_lines_whole_and_in_time_order(tmp_path):
    path = tmp_path / "shared.jsonl"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), name]) for name in ("a", "nemesis")]
    for w in writers:
        assert w.wait(60) == 0
    lines = path.read_text().splitlines()
    assert len(lines) == 4000
    events = [json.loads(line) for line in lines]  # a torn line would not parse
    for name in ("a", "nemesis"):
        assert [e["i"] for e in events if e["process"] == name] == list(range(2000))
    times = [e["time"] for e in events]
    assert times == sorted(times)  # interleaved writers, one time order: what the checker needs
