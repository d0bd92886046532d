"""Fixtures shared by every test tier."""
from __future__ import annotations

import os
import pathlib
import socket

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
CORPUS = pathlib.Path(os.environ.get("SPLITBRAIN_CORPUS", REPO.parent / "shared" / "corpus"))


@pytest.fixture(scope="session")
def repo_root() -> pathlib.Path:
    return REPO


@pytest.fixture(scope="session")
def corpus_dir() -> pathlib.Path:
    if not CORPUS.is_dir():
        pytest.fail(f"corpus not found at {CORPUS} (set SPLITBRAIN_CORPUS)")
    return CORPUS


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel just handed out on host; good enough for tests on loopback."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]
