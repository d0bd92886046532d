"""notebooks/analysis.ipynb, executed on a small real run: its recomputed summary must
equal the run's own summary.json (the notebook asserts it cell by cell)."""
import pathlib
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
NOTEBOOK = pathlib.Path(__file__).resolve().parents[2] / "notebooks" / "analysis.ipynb"


def test_analysis_notebook_runs_on_a_small_run(tmp_path, monkeypatch):
    import nbclient
    import nbformat

    r = subprocess.run([sys.executable, "-m", "splitbrain", "run", "--time", "8", "--nemesis", "kill-leader",
                        "--nemesis-interval", "2", "--fault-duration", "1", "--quiet", "1",
                        "--out", str(tmp_path)], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    run = (tmp_path / "latest").resolve()
    monkeypatch.setenv("SPLITBRAIN_RUN", str(run))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "recomputed=" in text and "operations," in text and "nemesis steps" in text
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
