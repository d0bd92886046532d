import os

import pytest

from .scenario import TESTDATA, render, run_file

pytestmark = pytest.mark.unit

FILES = sorted(TESTDATA.glob("*.txt"))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario(path):
    want, got = run_file(path)
    if os.environ.get("RAFT_REWRITE") == "1":
        path.write_text(render(got))
        return
    for (_, cmd, w), (_, _, g) in zip(want, got):
        assert g == w, f"{path.name}: after `{cmd}`\n--- want\n{w}\n--- got\n{g}"


def test_there_are_scenarios():
    assert len(FILES) >= 3
