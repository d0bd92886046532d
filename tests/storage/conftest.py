"""Fixtures: every contract test runs against both stores."""
from __future__ import annotations

import pytest

from reference_kv.storage.memory import MemoryStorage


def _pebble(path):
    from reference_kv.storage.pebble import PebbleDB

    return PebbleDB(path / "db")


def _memory(path):
    return MemoryStorage()


STORES = [
    pytest.param(_memory, id="memory", marks=pytest.mark.unit),
    pytest.param(_pebble, id="pebble", marks=pytest.mark.integration),
]


@pytest.fixture(params=STORES)
def make_store(request, tmp_path):
    """A factory for an empty store of the parametrized kind; all are closed at teardown."""
    opened = []

    def make():
        store = request.param(tmp_path / f"s{len(opened)}")
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store):
    return make_store()


@pytest.fixture
def pebble_db(tmp_path):
    from reference_kv.storage.pebble import PebbleDB

    db = PebbleDB(tmp_path / "db")
    yield db
    db.close()
