"""The build command: skips when up to date, one clear sentence without Go."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from reference_kv.storage import build

pytestmark = pytest.mark.integration


def run_build(repo_root, *args, **env):
    return subprocess.run([sys.executable, "-m", "reference_kv.storage.build", *args], cwd=repo_root,
                          env=dict(os.environ, **env), capture_output=True, text=True, timeout=600)


def test_up_to_date_build_is_skipped(repo_root):
    build.build()  # whatever the tree's state, bring the library up to date first
    mtime = build.LIBRARY.stat().st_mtime_ns
    proc = run_build(repo_root)
    assert proc.returncode == 0, proc.stderr
    assert "up to date" in proc.stdout
    assert build.LIBRARY.stat().st_mtime_ns == mtime


def test_missing_go_is_one_clear_sentence(repo_root):
    proc = run_build(repo_root, "--force", PEBBLESHIM_GO="/nonexistent/go")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "Go toolchain" in proc.stderr


def test_stale_sources_are_detected(tmp_path, monkeypatch):
    src = tmp_path / "shim"
    src.mkdir()
    for name in ("a.go", "go.mod", "go.sum"):
        (src / name).write_text("x")
    lib = tmp_path / "lib.so"
    monkeypatch.setattr(build, "SHIM_SRC", src)
    monkeypatch.setattr(build, "LIBRARY", lib)
    assert not build.is_up_to_date()
    lib.write_text("built")
    os.utime(lib, (2e9, 2e9))
    assert build.is_up_to_date()
    os.utime(src / "a.go", (2e9 + 1, 2e9 + 1))
    assert not build.is_up_to_date()
