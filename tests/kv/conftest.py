from __future__ import annotations

import pytest

from .harness import Cluster


@pytest.fixture
def make_cluster(tmp_path):
    made = []

    def make(n: int = 3, *extra: str, start: bool = True) -> Cluster:
        c = Cluster(tmp_path / f"c{len(made)}", n, *extra)
        c.root.mkdir()
        made.append(c)
        if start:
            c.start_all()
        return c

    yield make
    for c in made:
        c.stop_all()
