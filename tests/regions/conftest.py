from __future__ import annotations

import pytest

from kv.harness import Cluster


class RegionCluster(Cluster):
    """The kv harness's loopback processes, running the Region store instead of the single-group node."""

    regions = True


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
