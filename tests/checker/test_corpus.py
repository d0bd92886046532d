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
        result = checker.check(checker.load(path, fmt), model, processes=1)
        if result.valid is not verdict:
            wrong.append((path.name, result.valid, verdict))
    assert wrong == []


def test_small_corpus_pure_python_agrees(corpus_dir):
    small = [c for c in _cases(corpus_dir) if c[0].stat().st_size < 7000 and c[0].name != "etcd_002.log"][:40]
    assert len(small) >= 20
    for path, fmt, model, verdict in small:
        assert checker.check(checker.load(path, fmt), model, compiled=False, processes=1).valid is verdict, path.name


def test_empty_etcd_095_is_trivially_linearizable(corpus_dir):
    result = checker.check(checker.load(corpus_dir / "jepsen-etcd" / "etcd_095.log", "jepsen-log"))
    assert result.valid is True and result.ops == 0


def test_violation_names_key_prefix_and_blocked_op(corpus_dir):
    result = checker.check(checker.load(corpus_dir / "porcupine-kv" / "c01-bad.txt", "porcupine-kv"), "kv")
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
