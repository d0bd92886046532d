"""The system parts a test needs (etcd, FUSE, libfaketime, a Docker engine...), asked of
`scripts/system-deps`, which owns the list and installs them: a missing part skips the
test with the line that installs it; a part that is present runs, so a broken one fails."""
from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import pathlib
import sys

import pytest

_SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "system-deps"
_loader = importlib.machinery.SourceFileLoader("system_deps", str(_SCRIPT))
deps = importlib.util.module_from_spec(importlib.util.spec_from_loader("system_deps", _loader))
sys.modules["system_deps"] = deps  # its dataclasses look their module up there
_loader.exec_module(deps)


def missing(*parts: str) -> str | None:
    """Why the tests cannot have these parts here, or None. FUSE also needs root and /dev/fuse."""
    for name in parts:
        why = deps.why_missing(name)
        if why:
            return why
        if name == "fuse" and os.geteuid() != 0:
            return "FUSE mounts need root"
        if name == "fuse" and not os.path.exists("/dev/fuse"):
            return "FUSE needs /dev/fuse (a kernel with FUSE; in a container, --device /dev/fuse)"
    return None


def require(*parts: str) -> None:
    """Skip the calling test (or module, at import) unless every part is here."""
    why = missing(*parts)
    if why:
        pytest.skip(why, allow_module_level=True)


def require_docker_engine() -> None:
    """A Docker engine that answers. Without root a missing engine skips; as root it fails:
    `scripts/system-deps` (run by `make test`) starts one, so one that does not answer is broken."""
    why = deps.why_no_docker_engine()
    if why is None:
        return
    if os.geteuid() == 0 and deps.why_missing("docker") is None:
        pytest.fail(why, pytrace=False)
    pytest.skip(why, allow_module_level=True)


# Backend options that faults turn on (splitbrain.faultplan.backend_options) and the part each needs.
_PART_OF_OPTION = {"clock_control": "faketime", "power_loss": "fuse"}


def missing_for_faults(names) -> str | None:
    """Why a run with these --nemesis names cannot start here, or None."""
    from splitbrain.faultplan import backend_options

    return missing(*(_PART_OF_OPTION[o] for o in backend_options(names) if o in _PART_OF_OPTION))
