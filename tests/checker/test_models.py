"""Every built-in model keeps a linearizable and a non-linearizable history beside its tests
(data/models/<name>-ok.jsonl, -bad.jsonl), and the CLI offers exactly the built-in models."""
from __future__ import annotations

import pathlib

import pytest

import checker
from checker.models import MODELS

DATA = pathlib.Path(__file__).parent / "data" / "models"


@pytest.mark.unit
@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("kind, valid", [("ok", True), ("bad", False)])
def test_each_model_decides_its_own_histories(name, kind, valid):
    path = DATA / f"{name}-{kind}.jsonl"
    assert path.exists(), f"model {name} has no {path.name} beside its tests"
    for method in ("auto", "search"):
        assert checker.check(checker.load(path), name, method=method).valid is valid, (name, kind, method)


@pytest.mark.unit
def test_the_cli_offers_the_built_in_models():
    from splitbrain.cli import build_parser
    check = build_parser()._subparsers._group_actions[0].choices["check"]
    model = next(a for a in check._actions if a.dest == "model")
    assert list(model.choices) == list(MODELS)
