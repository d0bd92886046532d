"""Every corpus history with a known verdict gets that verdict (compiled search,
in-process); the pure-Python search agrees on the small ones."""
from __future__ import annotations

import json

import pytest

import checker

pytestmark = pytest.mark.unit
SETS = [("jepsen-etcd", "jepsen-log", "cas-register"), ("porcupine-kv", "porcupine-kv", "kv")]


def _cases(corpus_dir):
    for sub, fmt, model in SETS:
        expected = json.loads((corpus_dir / sub / "expected.json").read_text())
        for name, verdict in sorted(expected.items()):
            if verdict is not None:
                yield corpus_dir / sub / name, fmt, model, verdict


def test_corpus_compiled(corpus_dir):
    cases = list(_cases(corpus_dir))
    assert len(cases) == 108  # 102 Jepsen etcd logs + 6 kv logs
    wrong = []
    for path, fmt, model, verdict in cases:
        result = checker.check(checker.load(path, fmt), model, processes=1, witnesses=False)
        if result.valid is not verdict:
            wrong.append((path.name, result.valid, verdict))
    assert wrong == []


def test_small_corpus_pure_python_agrees(corpus_dir):
    small = [c for c in _cases(corpus_dir) if c[0].stat().st_size < 7000 and c[0].name != "etcd_002.log"][:40]
    assert len(small) >= 20
    for path, fmt, model, verdict in small:
        assert checker.check(checker.load(path, fmt), model, compiled=False, processes=1, witnesses=False).valid is verdict, path.name


def test_empty_etcd_095_proves_nothing(corpus_dir):
    # A 0-byte file: no operations is not evidence of anything (issue #22 item 7).
    result = checker.check(checker.load(corpus_dir / "jepsen-etcd" / "etcd_095.log", "jepsen-log"))
    assert result.valid == checker.EMPTY and result.ops == 0


def test_violation_names_key_prefix_and_blocked_op(corpus_dir):
    history = checker.load(corpus_dir / "porcupine-kv" / "c01-bad.txt", "porcupine-kv")
    fast = checker.check(history, "kv")
    (bad,) = fast.failures
    # Unique appends: decided by the order of zones, naming the two ops whose times conflict.
    assert bad.key == "7" and bad.method == "unique-values" and bad.blocked is not None
    result = checker.check(history, "kv", method="search")
    assert result.valid is False
    (bad,) = result.failures
    assert bad.key == "7" and bad.blocked is not None and bad.blocked not in bad.linearization
    # The prefix replays legally in the model; adding the blocked op right after it does not.
    from checker.core import replay

    model = checker.core.models.get("kv")
    states = replay(model, bad)
    last = states[-1] if states else model.init()
    ok, _ = model.step(last, bad.inputs[bad.blocked], bad.outputs[bad.blocked])
    assert not ok


def _same(a, b):
    assert a.valid == b.valid and a.ops == b.ops
    for p, q in zip(a.partitions, b.partitions, strict=True):
        assert (p.key, p.valid, p.linearization, p.blocked) == (q.key, q.valid, q.linearization, q.blocked)
        assert list(p.inputs) == list(q.inputs) and list(p.outputs) == list(q.outputs)
        assert [(o.process, o.f, o.value, o.result, o.status, o.call, o.ret, o.where) for o in p.ops] == \
               [(o.process, o.f, o.value, o.result, o.status, o.call, o.ret, o.where) for o in q.ops]


def test_trusted_pairing_equals_checked_pairing(corpus_dir):
    """Importer-made histories skip the per-event checks; the result is the same."""
    from checker.synth import Spec, generate

    histories = [checker.load(p, "jepsen-log") for p in sorted((corpus_dir / "jepsen-etcd").glob("*.log"))[::8]]
    for seed in range(10):  # info, crashed and failed ops, several keys
        events = generate(Spec(ops=60, processes=4, p_info=0.1, p_crash=0.05, anomaly="stale-read" if seed % 2 else None), seed)
        histories.append(checker.history.History(events, "gen", trusted=True))
    for h in histories:
        assert h.trusted
        fast = checker.check(h, "cas-register", witnesses=False)
        h.trusted = False
        _same(fast, checker.check(h, "cas-register", witnesses=False))


def test_jepsen_whole_file_parse_equals_line_by_line(corpus_dir, tmp_path):
    src = corpus_dir / "jepsen-etcd" / "etcd_000.log"
    text = src.read_text()
    odd = tmp_path / "odd.log"  # a blank line sends it down the line-by-line path
    odd.write_text(text.replace("\n", "\n\n", 1))
    a, b = checker.load(src, "jepsen-log"), checker.load(odd, "jepsen-log")
    assert [dict(e, time=0) for e in a] == [dict(e, time=0) for e in b] and len(a) > 100
    assert a.where(5) == f"{src}:6" and b.where(5) == f"{odd}:7"
