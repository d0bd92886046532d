"""Each name set (workloads, backends, read modes, client protocols) has one owner that every
other place asks; these tests hold the owners against what they name and against each other."""
from __future__ import annotations

import argparse
import ast
import pathlib

import pytest

import workloads
from nemesis import backends
from splitbrain import systems
from splitbrain.config import RunConfig
from workloads import clients

pytestmark = pytest.mark.unit
REPO = pathlib.Path(__file__).resolve().parents[2]


def _classes(path: pathlib.Path) -> dict[str, ast.ClassDef]:
    return {n.name: n for n in ast.parse(path.read_text()).body if isinstance(n, ast.ClassDef)}


def _class_attr(cls: ast.ClassDef, name: str):
    for n in cls.body:
        if isinstance(n, ast.Assign) and any(getattr(t, "id", None) == name for t in n.targets):
            return ast.literal_eval(n.value)
    return None


@pytest.mark.parametrize("name", systems.names())
def test_a_system_declares_its_read_modes_as_its_client_phrases_them(name):
    system = systems.create(name)
    assert system.read_modes and system.read_modes == clients.read_modes(system.client)
    assert system.read_mode == system.read_modes[0]  # the default comes first
    for mode in system.read_modes:
        assert RunConfig(system=name, read_mode=mode).validate().read_mode == mode


def test_every_workload_module_is_in_the_table_and_every_entry_is_a_workload():
    # Read from the source: importing a workload imports Locust, which gevent-patches this process.
    classes = {f"workloads.{path.stem}:{name}": cls for path in sorted((REPO / "workloads").glob("*.py"))
               for name, cls in _classes(path).items()}
    users, bases = {}, {"StoreUser"}
    while True:  # a workload derives from StoreUser or from another workload
        more = {where: _class_attr(cls, "workload") for where, cls in classes.items()
                if where not in users and any(getattr(b, "id", None) in bases for b in cls.bases)}
        if not more:
            break
        users.update(more)
        bases |= {where.rpartition(":")[2] for where in more}
    assert sorted(users) == sorted(workloads.WORKLOADS.values())
    assert all(users[where] == name for name, where in workloads.WORKLOADS.items())


def test_the_workloads_readme_lists_every_workload():
    text = (REPO / "workloads" / "README.md").read_text()
    assert [name for name in workloads.names() if f"| `{name}` |" not in text] == []


@pytest.mark.parametrize("name", list(backends.NAMES))
def test_a_backend_is_named_as_its_class_names_itself(name):
    assert backends.backend_class(name).name == name


def test_every_client_protocol_names_a_class_with_its_read_modes():
    for protocol in clients.PROTOCOLS:
        cls = clients.client_class(protocol)
        assert cls.system == protocol and isinstance(cls.READ_MODES, tuple)
        assert set(getattr(cls, "STALE_READ_MODES", ())) < set(cls.READ_MODES) or not cls.READ_MODES, protocol


def test_the_run_command_offers_exactly_the_tables():
    from splitbrain.commands import run

    p = argparse.ArgumentParser()
    run.add_arguments(p)
    helps = {a.dest: a.help for a in p._actions}
    assert all(w in helps["workload"] for w in workloads.names())
    assert all(b in helps["backend"] for b in backends.NAMES)
    assert all(s in helps["system"] for s in systems.names())
    for name in systems.names():
        assert f"{name}: {' | '.join(systems.create(name).read_modes)}" in " ".join(helps["read_mode"].split())
    for w in workloads.names():
        assert RunConfig(workload=w).validate().workload == w
    for b in backends.NAMES:
        assert RunConfig(backend=b).validate().backend == b
    from nemesis.schedule import MODES

    assert [a for a in p._actions if a.dest == "nemesis_mode"][0].choices == MODES
    for m in MODES:
        assert RunConfig(nemesis_mode=m).validate().nemesis_mode == m


def _top_functions(path: pathlib.Path) -> set[str]:
    return {n.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef)}


def test_a_fault_module_is_listed_once_and_every_listed_module_makes_packages():
    from nemesis import faults

    makers = {p.stem for p in (REPO / "nemesis" / "faults").glob("*.py") if "packages" in _top_functions(p)}
    assert sorted(faults.MODULES) == sorted(makers) and len(set(faults.MODULES)) == len(faults.MODULES)
    assert {p.name for p in faults.catalogue()} >= {"partition-halves", "kill-one", "pause-one"}


def test_a_backend_module_is_in_the_backends_table():
    named = {}
    for path in (REPO / "nemesis" / "backends").glob("*.py"):
        for cls in _classes(path).values():
            name = _class_attr(cls, "name")
            if isinstance(name, str) and any(isinstance(n, ast.FunctionDef) and n.name == "setup" for n in cls.body):
                named[name] = (f"nemesis.backends.{path.stem}", cls.name)
    named.pop("host", None)  # the base of local and netns: no backend of its own
    assert named == {k: tuple(v) for k, v in backends.NAMES.items()}


def test_a_checker_model_module_is_in_the_models_table():
    import importlib

    from checker import models
    from checker.model import Model

    found = set()
    for path in (REPO / "checker" / "models").glob("*.py"):
        mod = importlib.import_module(f"checker.models.{path.stem}")
        found |= {v.name for v in vars(mod).values() if isinstance(v, Model)}
    assert found == set(models.MODELS)


def test_the_readme_says_where_each_piece_goes_as_the_code_has_it():
    text = (REPO / "README.md").read_text()
    table = text[text.index("## Where a new piece goes"):]
    for owner in ("nemesis.faults.MODULES", "nemesis.backends.NAMES", "checker.models.MODELS", "workloads.WORKLOADS",
                  "workloads.clients.PROTOCOLS", "splitbrain.systems._BUILTIN"):
        module, _, name = owner.rpartition(".")
        assert f"`{owner}`" in table and hasattr(__import__(module, fromlist=[name]), name), owner
