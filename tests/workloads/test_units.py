"""Pure parts of the workloads: key choice, mixes, pacing, options, the recorder's verdicts."""
from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from workloads.errors import DefiniteError, IndeterminateError
from workloads.keys import Mix, RotatingRegisters, ZipfKeys
from workloads.pacing import Pacer
from workloads.recorder import PROCESS_BLOCK, HistoryFile, Recorder
from workloads.settings import Settings, parse_endpoints

pytestmark = pytest.mark.unit


def test_register_keys_rotate_after_ops_per_key_times_width():
    keys = RotatingRegisters(width=3, ops_per_key=10)
    rng = random.Random(1)
    first = {keys.pick(rng) for _ in range(30)}
    second = {keys.pick(rng) for _ in range(30)}
    assert first == {"r0", "r1", "r2"}
    assert second == {"r3", "r4", "r5"}


def test_register_values_are_unique_and_cas_expects_a_recent_one():
    keys = RotatingRegisters(width=2, ops_per_key=1000)
    rng = random.Random(2)
    written = [keys.fresh_value("r0") for _ in range(10)]
    assert len(set(written)) == 10
    assert keys.recent_value("r1", rng) is None
    assert {keys.recent_value("r0", rng) for _ in range(50)} <= set(written[-4:])


def test_worker_blocks_keep_values_apart():
    a, b = RotatingRegisters(1, 1, worker_index=0), RotatingRegisters(1, 1, worker_index=1)
    assert {a.fresh_value("k") for _ in range(100)}.isdisjoint({b.fresh_value("k") for _ in range(100)})


def test_zipf_keys_are_skewed_and_payloads_unique_and_sized():
    keys = ZipfKeys(1000, value_size=32)
    rng = random.Random(3)
    counts = Counter(keys.pick(rng) for _ in range(20000))
    hottest = counts.most_common(1)[0][1]
    # Uniform would give ~20 per key; zipf(0.99) gives the hottest key ~7% of the draws.
    assert hottest > 500
    assert len(counts) > 300
    payloads = [keys.payload() for _ in range(100)]
    assert len(set(payloads)) == 100 and all(len(p) == 32 for p in payloads)


@pytest.mark.parametrize("spec, ops", [("A", {"get", "put"}), ("c", {"get"}),
                                       ("get=1,append=1", {"get", "append"})])
def test_mix_parses_letters_and_weights(spec, ops):
    mix = Mix(spec)
    rng = random.Random(4)
    assert {mix.pick(rng) for _ in range(200)} == ops


def test_mix_b_is_mostly_gets():
    mix, rng = Mix("B"), random.Random(5)
    gets = sum(mix.pick(rng) == "get" for _ in range(10000))
    assert 9300 < gets < 9700


@pytest.mark.parametrize("spec", ["D", "get=x", "scan=1", "get=0", "get=-1,put=2"])
def test_mix_rejects_bad_specs(spec):
    with pytest.raises(ValueError, match="mix"):
        Mix(spec)


def test_pacer_reserves_slots_and_never_bursts_to_catch_up():
    now = [100.0]
    pacer = Pacer(10.0, clock=lambda: now[0])
    assert [pacer.delay() for _ in range(3)] == pytest.approx([0.0, 0.1, 0.2])
    now[0] = 200.0  # everyone fell far behind: no backlog of zero waits
    assert [pacer.delay() for _ in range(2)] == pytest.approx([0.0, 0.1])
    assert Pacer(0).delay() == 0.0


def test_settings_reject_bad_options_in_one_message():
    with pytest.raises(ValueError) as e:
        Settings(system="mongo", endpoints=("nohost",), rate=-1)
    message = str(e.value)
    for part in ("system 'mongo'", "endpoint 'nohost'", "rate"):
        assert part in message
    # a read mode is the client's: each names its own, and one that reads one way takes none
    with pytest.raises(ValueError, match="the etcd client has no read mode 'lease' "
                                         r"\(one of linearizable, serializable\)"):
        Settings(system="etcd", endpoints=("a:1",), read_mode="lease")
    with pytest.raises(ValueError, match="the redis client has no read mode 'serializable'"):
        Settings(system="redis", endpoints=("a:1",), read_mode="serializable")
    assert Settings(system="reference-kv", endpoints=("a:1",), read_mode="lease").read_mode == "lease"
    with pytest.raises(ValueError, match="unknown option"):
        Settings.from_mapping({"endpoints": "a:1", "colour": "red"})


def test_endpoints_come_from_a_list_or_locust_host():
    assert parse_endpoints("a:1, b:2") == ("a:1", "b:2")
    assert parse_endpoints("", "http://127.0.0.1:2379") == ("127.0.0.1:2379",)
    assert parse_endpoints(["http://x:1", "y:2"]) == ("x:1", "y:2")


class DictClient:
    """A correct, in-memory implementation of the client protocol with scripted failures."""

    system = "dict"

    def __init__(self):
        self.data, self.node, self.fail_next = {}, "dict:1", None

    def _maybe_fail(self):
        error, self.fail_next = self.fail_next, None
        if error is not None:
            raise error

    def read(self, key):
        self._maybe_fail()
        return self.data.get(key)

    def write(self, key, value):
        self._maybe_fail()
        self.data[key] = value

    def cas(self, key, expected, new):
        self._maybe_fail()
        if self.data.get(key) != expected:
            return False
        self.data[key] = new
        return True

    def delete(self, key):
        self._maybe_fail()
        self.data.pop(key, None)

    get, put = read, write

    def append(self, key, s):
        self._maybe_fail()
        self.data[key] = self.data.get(key, "") + s

    def close(self):
        pass


class Fired:
    def __init__(self):
        self.calls = []

    def fire(self, **kwargs):
        self.calls.append(kwargs)


def test_recorder_writes_what_the_client_knows(tmp_path):
    path = tmp_path / "h.jsonl"
    ticks = iter(range(1000, 100000, 10))
    fired = Fired()
    rec = Recorder(HistoryFile(path), "register", fired, worker_index=2, clock=lambda: next(ticks))
    client = DictClient()
    p = rec.new_process()
    assert p == 2 * PROCESS_BLOCK
    assert rec.perform(client, p, "write", "k", 1).type == "ok"
    assert rec.perform(client, p, "cas", "k", [2, 3]).type == "fail"  # comparison did not match
    assert rec.perform(client, p, "cas", "k", [1, 3]).type == "ok"
    assert rec.perform(client, p, "read", "k").value == 3
    client.fail_next = DefiniteError("refused")
    assert rec.perform(client, p, "write", "k", 4).type == "fail"
    client.fail_next = IndeterminateError("timeout")
    assert rec.perform(client, p, "read", "k").type == "fail"  # a read changes nothing
    client.fail_next = IndeterminateError("timeout")
    assert rec.perform(client, p, "write", "k", 5).type == "info"
    client.fail_next = KeyError("client bug")
    assert rec.perform(client, p, "delete", "k").type == "info"
    assert rec.new_process() == p + 1
    rec.history.close()

    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["type"] for e in events] == ["invoke", "ok", "invoke", "fail", "invoke", "ok", "invoke", "ok",
                                           "invoke", "fail", "invoke", "fail", "invoke", "info", "invoke", "info"]
    completions = events[1::2]
    assert "error" not in completions[1]  # the cas mismatch
    assert completions[4]["error"] == "refused" and completions[5]["error"] == "timeout"
    assert completions[2]["value"] == [1, 3] and completions[3]["value"] == 3
    assert all(c["node"] == "dict:1" and c["latency"] == 10 for c in completions)
    assert all(e["process"] == p for e in events)
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)

    assert len(fired.calls) == 8
    assert [c["request_type"] for c in fired.calls][:2] == ["write", "cas"]
    assert fired.calls[0]["name"] == "register/write"
    failures = [c for c in fired.calls if c["exception"] is not None]
    assert len(failures) == 4  # refused, read timeout, write timeout, client bug; not the cas mismatch
    assert rec.counts == {"invoke": 8, "ok": 3, "fail": 3, "info": 2}


def test_recorder_rejects_unknown_operations():
    with pytest.raises(ValueError, match="unknown operation"):
        Recorder(None, "x").perform(DictClient(), 0, "scan", "k")


class Teardown(BaseException):
    """Stands for gevent's GreenletExit: a kill delivered while a request is out."""


def test_an_operation_cut_off_by_teardown_is_info_and_not_counted_by_locust(tmp_path):
    fired = Fired()
    rec = Recorder(HistoryFile(tmp_path / "h.jsonl"), "register", fired)
    client = DictClient()
    client.fail_next = Teardown()
    with pytest.raises(Teardown):
        rec.perform(client, 0, "write", "k", 1)
    rec.history.close()
    events = [json.loads(line) for line in (tmp_path / "h.jsonl").read_text().splitlines()]
    assert [(e["type"], e.get("error")) for e in events] == [("invoke", None), ("info", "abandoned")]
    assert fired.calls == []


def test_the_final_read_reads_every_key_with_an_acknowledged_write_with_its_models_read():
    from workloads.final import FINAL_BLOCK, final_recorder, is_final_process, keys_to_read

    events = [
        {"process": 0, "type": "invoke", "f": "write", "key": "r1", "value": 1},
        {"process": 0, "type": "ok", "f": "write", "key": "r1", "value": 1},
        {"process": 1, "type": "invoke", "f": "write", "key": "r2", "value": 2},
        {"process": 1, "type": "info", "f": "write", "key": "r2", "value": 2},  # never acknowledged
        {"process": 2, "type": "invoke", "f": "cas", "key": "r3", "value": [1, 2]},
        {"process": 2, "type": "fail", "f": "cas", "key": "r3", "value": [1, 2]},  # did not apply
        {"process": 3, "type": "invoke", "f": "append", "key": "k1", "value": "x"},
        {"process": 3, "type": "ok", "f": "append", "key": "k1", "value": "x"},
        {"process": "nemesis", "type": "info", "f": "kill", "value": ["1"]},
    ]
    assert keys_to_read(events) == {"r1": "read", "k1": "get"}
    rec = final_recorder(None)
    p = rec.new_process()
    assert is_final_process(p) and p == FINAL_BLOCK * 1_000_000 and not is_final_process(0)
