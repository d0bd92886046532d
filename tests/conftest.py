"""Fixtures shared by every test tier."""
from __future__ import annotations

import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "data" / "corpus"  # histories with known verdicts and their licenses


@pytest.fixture(scope="session")
def repo_root() -> pathlib.Path:
    return REPO


@pytest.fixture(scope="session")
def corpus_dir() -> pathlib.Path:
    return CORPUS
