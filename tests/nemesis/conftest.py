"""Session sweep for the nemesis tests: nothing a failed test started may outlive the session."""
from __future__ import annotations

import sys

import pytest

from nemesis_helpers import SESSION_PREFIX


@pytest.fixture(scope="session", autouse=True)
def _sweep_session():
    yield
    from nemesis.sweep import sweep
    left = sweep(SESSION_PREFIX)
    leaked = {k: v for k, v in left.items() if v}
    if leaked:
        print(f"nemesis sweep removed leftovers: {leaked}", file=sys.stderr)
