"""The process client protocol against real processes that behave and misbehave: the suite
enforces the timeout, discards late answers, restarts a client that died (never in a tight
loop), and tells definite from unknown as the client said."""
from __future__ import annotations

import sys
import textwrap
import time

import pytest

from workloads.clients import make_client, split_spec
from workloads.errors import DefiniteError, IndeterminateError

pytestmark = pytest.mark.integration

# A client in Python for the tests: a dict, with misbehaviours chosen by the key.
SCRIPT = textwrap.dedent('''
    import json, os, sys, time
    data = {}
    for line in sys.stdin:
        msg = json.loads(line)
        if msg["type"] == "init":
            if os.environ.get("REFUSE_INIT"):
                print(json.dumps({"type": "nope"}), flush=True)
                continue
            print(json.dumps({"type": "init_ok"}), flush=True)
            continue
        key, f = msg["key"], msg["f"]
        if key == "slow":
            time.sleep(0.6)
        if key == "die":
            sys.exit(3)
        if key == "garbage":
            print("this is not json", flush=True)
            continue
        out = {"id": msg["id"], "node": "n" + str(os.getpid())}
        if f == "read":
            out.update(type="ok", value=data.get(key))
        elif f == "write":
            data[key] = msg["value"]
            out.update(type="ok")
        elif f == "cas":
            if data.get(key) != msg["expected"]:
                out.update(type="mismatch")
            else:
                data[key] = msg["new"]
                out.update(type="ok")
        elif key == "unsure":
            out.update(type="info", error="lost the leader")
        else:
            out.update(type="fail", error="not-leader")
        print(json.dumps(out), flush=True)
''')


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "client.py"
    path.write_text(SCRIPT)
    return {"protocol": "process", "command": [sys.executable, str(path)], "stderr": str(tmp_path / "u{user}.log")}


def test_operations_replies_and_the_serving_node(spec):
    c = make_client(spec, ["127.0.0.1:1"], timeout=0.3)
    try:
        assert c.read("k") is None
        c.write("k", 5)
        assert c.read("k") == 5
        assert c.cas("k", 4, 6) is False and c.cas("k", 5, 6) is True and c.read("k") == 6
        assert c.node.startswith("n")
        with pytest.raises(DefiniteError, match="not-leader"):
            c.delete("k")
        with pytest.raises(IndeterminateError, match="lost the leader"):
            c.append("unsure", "x")
    finally:
        c.close()


def test_a_late_answer_is_unknown_and_discarded_and_a_dead_client_is_restarted(spec):
    c = make_client(spec, ["127.0.0.1:1"], timeout=0.3)
    try:
        c.write("k", 1)
        t = time.monotonic()
        with pytest.raises(IndeterminateError, match="timeout"):
            c.write("slow", 2)  # answered after 0.6 s: the suite gave up at 0.3 s
        assert time.monotonic() - t < 0.5
        assert c.read("k") == 1  # the late answer to the slow write is not taken for this one
        pid = c._proc.pid
        with pytest.raises(IndeterminateError, match="exited"):
            c.write("die", 1)
        t = time.monotonic()
        assert c.read("k") is None  # a new process (empty dict), started again no sooner than a second after
        assert c._proc.pid != pid and time.monotonic() - t >= 0.3
        with pytest.raises(IndeterminateError, match="not a JSON line"):
            c.read("garbage")
    finally:
        c.close()


def test_a_client_that_does_not_start_fails_definitely(spec, tmp_path):
    c = make_client({**spec, "env": {"REFUSE_INIT": "1"}}, ["127.0.0.1:1"], timeout=0.3)
    with pytest.raises(DefiniteError, match="did not start"):
        c.read("k")
    c = make_client({**spec, "command": [str(tmp_path / "no-such-client")]}, ["127.0.0.1:1"])
    with pytest.raises(DefiniteError, match="did not start"):
        c.read("k")


@pytest.mark.parametrize("options,needle", [
    ({}, "command: expected"),
    ({"command": "x", "colour": 1}, "colour: unknown key"),
    ({"command": "x", "env": {"A": 1}}, "env: expected a table of strings"),
    ({"command": "x", "start_timeout": -1}, "start_timeout: expected seconds"),
])
def test_options_are_checked_up_front(options, needle):
    with pytest.raises(ValueError, match=needle):
        split_spec({"protocol": "process", **options})
