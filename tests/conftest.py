"""Fixtures shared by every test tier."""
from __future__ import annotations

import pathlib
import socket

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "data" / "corpus"  # histories with known verdicts and their licenses


@pytest.fixture(scope="session")
def repo_root() -> pathlib.Path:
    return REPO


@pytest.fixture(scope="session")
def corpus_dir() -> pathlib.Path:
    return CORPUS


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel just handed out on host; good enough for tests on loopback."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]
