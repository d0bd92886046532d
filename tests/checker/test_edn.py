"""--format jepsen-edn reads Jepsen's history.edn as Jepsen means it; the
Knossos corpus gets Knossos's verdicts; malformed EDN is one line, exit 2."""
from __future__ import annotations

import json

import pytest

import checker
from checker import edn
from clitool import sb

pytestmark = pytest.mark.unit



def load(tmp_path, text, name="h.edn"):
    p = tmp_path / name
    p.write_text(text)
    return checker.load(p, "jepsen-edn")


def test_knossos_corpus_gets_knossos_verdicts(corpus_dir):
    base = corpus_dir / "knossos"
    expected = json.loads((base / "expected.json").read_text())
    assert len(expected) == 120 and sum(expected.values()) == 113
    wrong = []
    for name, verdict in sorted(expected.items()):
        r = checker.check(checker.load(base / name, "jepsen-edn"), "cas-register", initial=0, timeout=60,
                          witnesses=False)
        if name == "good/mongodb-v0-ack-rollback-.edn":
            # Only nemesis events: Knossos calls it valid; here no operations is no evidence.
            assert r.valid == checker.EMPTY
            continue
        if r.valid is not verdict:
            wrong.append((name, r.valid, verdict))
    assert wrong == []


def test_fail_did_not_happen_and_nil_read_is_unknown(tmp_path):
    # The :fail cas did not happen (Jepsen), so the register is still 1; the nil
    # read constrains nothing.
    h = load(tmp_path, """[{:process 0, :type :invoke, :f :write, :value 1}
 {:process 0, :type :ok, :f :write, :value 1}
 {:process 1, :type :invoke, :f :cas, :value [1 2]}
 {:process 1, :type :fail, :f :cas, :value [1 2]}
 {:process 2, :type :invoke, :f :read, :value nil}
 {:process 2, :type :ok, :f :read, :value nil}
 {:process 2, :type :invoke, :f :read, :value nil}
 {:process 2, :type :ok, :f :read, :value 1}]""")
    assert h.time_unit == "event"
    assert checker.check(h).valid is True
    # Read the etcd way (":fail :cas" = comparison failed), the cas would need a
    # value other than 1 and the history would fail: the two readings differ.
    ev = [dict(e) for e in h]
    for e in ev:
        e.pop("error", None)
    assert checker.check(ev).valid is False


def test_independent_keys_split_and_stream_of_maps(tmp_path):
    h = load(tmp_path, """{:process 0, :type :invoke, :f :write, :value [:a 1], :time 10}
{:process 0, :type :ok, :f :write, :value [:a 1], :time 20}
{:process 1, :type :invoke, :f :read, :value [:b nil], :time 30}
{:process 1, :type :ok, :f :read, :value [:b 1], :time 40}
""")
    assert h.time_unit == "ns"
    r = checker.check(h)
    assert {p.key for p in r.partitions} == {"a", "b"} and r.valid is False  # b was never written 1


def test_logical_time_in_the_witness(tmp_path):
    h = load(tmp_path, """({:process 0, :type :invoke, :f :write, :value 1}
 {:process 0, :type :ok, :f :write, :value 1}
 {:process 0, :type :invoke, :f :write, :value 2}
 {:process 0, :type :ok, :f :write, :value 2}
 ; a stale read
 {:process 1, :type :invoke, :f :read, :value nil}
 {:process 1, :type :ok, :f :read, :value 1})""")
    r = checker.check(h)
    (p,) = r.failures
    assert "event #5" in p.witness.sentence and "event #4" in p.witness.sentence
    assert "0.000" not in p.witness.sentence


@pytest.mark.parametrize("text, where", [
    ("[{:process 0, :type :invoke, :f :write, :value 1}\n {:process 0 :type", "line 2"),
    ("[{:process 0, :type :invoke, :f :write, :value 1}]\n]", "line 2, column 1"),
    ('[{:process 0, :type :invoke, :f :write, :value "abc}]', "line 1, column 48: string"),
    ("[{:process 0, :type :invoke, :f :write}\n 17]", "line 1"),
    ("[" * 500 + "]" * 500, "nested too deeply"),
])
def test_malformed_edn_one_line_exit_2(tmp_path, text, where):
    f = tmp_path / "bad.edn"
    f.write_text(text)
    p = sb("--format", "jepsen-edn", f)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and str(f) in p.stderr and where in p.stderr, p.stderr


def test_cli_initial_value(tmp_path, corpus_dir):
    f = corpus_dir / "knossos" / "good" / "cas-register-bug.edn"
    assert sb("--format", "jepsen-edn", "--initial-value", "0", f).returncode == 0
    assert sb("--format", "jepsen-edn", "--initial-value", "0", "--method", "search", f).returncode == 0


def test_reader_values():
    (v, _), = edn.read_all('{:a [1 -2 3.5 "x\\"y" nil true :k sym #{1 2} (4 5) #inst "2020"] ; c\n :b 7N}')
    assert v == {"a": [1, -2, 3.5, 'x"y', None, True, "k", "sym", [1, 2], (4, 5), "2020"], "b": 7}


def test_jsonl_without_times_counts_events(tmp_path):
    f = tmp_path / "h.jsonl"
    f.write_text("".join(json.dumps(e) + "\n" for e in [
        {"process": 0, "type": "invoke", "f": "write", "value": 1}, {"process": 0, "type": "ok", "f": "write", "value": 1},
        {"process": 0, "type": "invoke", "f": "write", "value": 2}, {"process": 0, "type": "ok", "f": "write", "value": 2},
        {"process": 1, "type": "invoke", "f": "read"}, {"process": 1, "type": "ok", "f": "read", "value": 1}]))
    r = checker.check(checker.load(f))
    assert r.valid is False and r.time_unit == "event"
    assert "event #5" in r.failures[0].witness.sentence
