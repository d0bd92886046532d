"""Our verdicts == Porcupine's (the Go library itself, through the harness in
bench/checker/porcupine reading our JSONL) on generated histories beyond the
corpus, linearizable ones and ones with planted anomalies, and on real
histories recorded by `splitbrain run`."""
from __future__ import annotations

import gzip
import pathlib
import random

import pytest

import checker
from checker.synth import ANOMALIES, Spec, dumps, generate

pytestmark = pytest.mark.unit
HERE = pathlib.Path(__file__).resolve().parent
SEEDS = range(300)


def _porcupine(specs, timeout):
    from bench.checker import harness

    try:
        return harness.porcupine(specs, timeout=timeout)[1]
    except harness.GoMissing as e:
        pytest.skip(str(e))


def spec_for(seed: int) -> Spec:
    """Varied but small enough for Porcupine to answer in well under a second.
    Both searches are exponential in the number of ops that never returned
    (each may or may not have happened): a non-linearizable register history
    with 30 of them takes minutes either way, and Porcupine's plain state
    cache explodes sooner on kv histories with unknown appends."""
    rng = random.Random(seed)
    model = rng.choice(["cas-register", "kv"])
    kv = model == "kv"
    return Spec(model=model, ops=rng.choice([10, 40, 100, 200]), processes=rng.choice([2, 4, 6] if kv else [2, 5, 10]),
                keys=rng.choice([1, 2, 3]), values=rng.choice([0, 2, 5]),
                p_fail=rng.choice([0, 0.05]), p_info=rng.choice([0, 0.02] if kv else [0, 0.03, 0.06]),
                p_crash=rng.choice([0, 0.01] if kv else [0, 0.01, 0.02]),
                anomaly=rng.choice([None, None, *ANOMALIES]), anomalies=rng.choice([1, 2]))


def test_generated_histories_agree_with_porcupine(tmp_path):
    files = {}
    for seed in SEEDS:
        spec = spec_for(seed)
        path = tmp_path / f"{seed}.jsonl"
        path.write_text(dumps(generate(spec, seed)))
        files[str(path)] = spec
    theirs = _porcupine([f"jsonl-{s.model}:{p}" for p, s in files.items()], timeout=10)
    wrong, verdicts = [], []
    for path, spec in files.items():
        ours = checker.check(checker.load(path), spec.model, timeout=10, witnesses=False).valid
        verdicts.append((spec.anomaly, ours))
        if ours != theirs[path] or ours == checker.UNKNOWN or (spec.anomaly is None and ours is not True):
            wrong.append((pathlib.Path(path).name, spec, ours, theirs[path]))
    assert wrong == []
    # The set must exercise both verdicts, or agreement means little.
    assert sum(1 for a, v in verdicts if a and v is False) >= 60
    assert sum(1 for a, v in verdicts if v is True) >= 100


@pytest.mark.parametrize("name, model", [("run-register-local-unsafe.jsonl.gz", "cas-register"),
                                         ("run-kv.jsonl.gz", "kv")])
def test_recorded_runs_agree_with_porcupine(tmp_path, name, model):
    path = tmp_path / name.removesuffix(".gz")
    path.write_bytes(gzip.decompress((HERE / "data" / name).read_bytes()))
    theirs = _porcupine([f"jsonl-{model}:{path}"], timeout=60)[str(path)]
    ours = checker.check(checker.load(path), model).valid
    assert ours == theirs
    assert ours is (model == "kv")  # local-unsafe reads were caught stale in this run
