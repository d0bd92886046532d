from __future__ import annotations

import sys

import pytest

from kv.harness import Cluster


class RegionCluster(Cluster):
    """The kv harness's loopback processes, running the Region store instead of the single-group node."""

    def argv(self, nid: int, join: bool = False) -> list[str]:
        argv = super().argv(nid, join)
        assert argv[1:3] == ["-m", "reference_kv"]
        return [sys.executable, "-m", "reference_kv.regions"] + argv[3:]


@pytest.fixture
def region_cluster(tmp_path):
    made = []

    def make(n: int = 3, *extra: str) -> RegionCluster:
        c = RegionCluster(tmp_path / f"c{len(made)}", n, *extra)
        c.root.mkdir()
        made.append(c)
        c.start_all()
        return c

    yield make
    for c in made:
        c.stop_all()
