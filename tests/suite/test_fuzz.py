"""No input makes the suite's commands crash (issue #22 item 9): `report` on run directories of
events, status rounds and configs of every wrong type, and `run --config` on any JSON object,
end in a verdict's exit status or in one line and exit 2, never in a traceback (whose exit 1
reads as "violation found" to every script). The checker's importers are fuzzed beside their
reader (tests/checker/test_robustness.py)."""
from __future__ import annotations

import io
import json
import math
from contextlib import redirect_stderr, redirect_stdout

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from splitbrain.cli import main

pytestmark = pytest.mark.unit

EXITS = {0, 1, 2, 3, 4}

_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                    st.text(max_size=4))
_ANY = st.recursive(_SCALAR, lambda c: st.one_of(st.lists(c, max_size=3),
                                                 st.dictionaries(st.text(max_size=4), c, max_size=3)),
                    max_leaves=8)


def _either(good, bad=_ANY):
    """Mostly the right kind of value (so analysis gets far), sometimes anything."""
    return st.one_of(good, good, good, bad)


_NODE = st.sampled_from(["1", "2", "3"])
_MUTATIONS = st.sampled_from([0, 0, 0, 1, 2])  # fields replaced by anything, per file: most files stay readable
_FIELDS = ("process", "type", "f", "key", "value", "time", "node", "latency", "error", "fault", "phase", "grudge")


@st.composite
def _history(draw):
    """A well-formed run history (operations invoked and completed per process, nemesis steps),
    then a few of its fields replaced by anything: most examples get deep into the analysis."""
    events, t = [], 0
    open_ops: dict[int, dict] = {}
    kv = draw(st.booleans())
    fs, values = (["get", "put", "append"], st.sampled_from(["a", "b"])) if kv else (["read", "write"], st.integers(0, 3))
    for _ in range(draw(st.integers(0, 14))):
        t += draw(st.integers(1, 10**8))
        kind = draw(st.sampled_from(["op", "op", "op", "nemesis"]))
        if kind == "nemesis":
            phase = draw(st.sampled_from(["start", "stop", None]))
            events.append({"process": "nemesis", "type": "info", "f": draw(st.sampled_from(["partition", "kill", "heal"])),
                           "value": {"grudge": draw(st.dictionaries(_NODE, st.lists(_NODE, max_size=2), max_size=3)),
                                     "down": draw(st.lists(_NODE, max_size=2))},
                           "fault": draw(st.sampled_from(["partition-one", "kill-one", None])), "phase": phase,
                           "time": t})
            continue
        p = draw(st.integers(0, 3))
        if p in open_ops:
            inv = open_ops.pop(p)
            events.append({**inv, "type": draw(st.sampled_from(["ok", "fail", "info"])), "time": t,
                           "node": draw(_NODE), "latency": draw(st.integers(0, 10**9))})
        else:
            open_ops[p] = inv = {"process": p, "type": "invoke", "f": draw(st.sampled_from(fs)),
                                 "key": draw(st.sampled_from(["k1", "k2"])), "value": draw(values), "time": t}
            events.append(inv)
    for _ in range(draw(_MUTATIONS) if events else 0):
        ev = events[draw(st.integers(0, len(events) - 1))]
        ev[draw(st.sampled_from(_FIELDS))] = draw(_ANY)
    return events


@st.composite
def _status_rounds(draw):
    rounds, t = [], 0
    for _ in range(draw(st.integers(0, 5))):
        t += draw(st.integers(1, 10**8))
        nodes = {n: draw(st.one_of(st.none(), st.fixed_dictionaries({
            "role": st.sampled_from(["leader", "follower", "candidate"]), "term": st.integers(0, 3),
            "leader": _NODE, "commit": st.integers(0, 9), "incarnation": st.sampled_from(["a", "b"])})))
            for n in ("1", "2", "3")}
        rounds.append({"time": t, "nodes": nodes})
    for _ in range(draw(_MUTATIONS) if rounds else 0):
        r = rounds[draw(st.integers(0, len(rounds) - 1))]
        where = draw(st.sampled_from(["round", "node", "field"]))
        if where == "round":
            r[draw(st.sampled_from(["time", "nodes"]))] = draw(_ANY)
        elif not isinstance(r["nodes"], dict):
            continue
        elif where == "node":
            r["nodes"][draw(_NODE)] = draw(_ANY)
        elif isinstance(r["nodes"].get("1"), dict):
            r["nodes"]["1"][draw(st.sampled_from(["role", "term", "leader", "commit", "incarnation"]))] = draw(_ANY)
    return rounds


@st.composite
def _load_events(draw):
    """What the load says of itself (load-events.jsonl), a few fields replaced by anything."""
    events = [{"event": "start", "time": draw(st.integers(0, 10**8)), "users": draw(st.integers(1, 4)),
               "run_time": draw(st.floats(0.1, 10))}]
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["user-died", "stop", "final-read"]))
        ev = {"event": kind, "time": draw(st.integers(0, 10**9))}
        if kind == "user-died":
            ev.update(user=draw(st.integers(0, 3)), error=draw(st.text(max_size=5)))
        if kind == "final-read":
            ev.update(keys=draw(st.integers(0, 3)), ok=draw(st.integers(0, 3)), note=draw(st.none() | st.text(max_size=4)))
        events.append(ev)
    for _ in range(draw(_MUTATIONS)):
        ev = events[draw(st.integers(0, len(events) - 1))]
        ev[draw(st.sampled_from(["event", "time", "users", "run_time", "user", "error", "keys", "ok", "note"]))] = draw(_ANY)
    return events


_GOOD_CONFIG = st.fixed_dictionaries({}, optional={"nodes": _either(st.integers(1, 5)), "nemesis": _ANY,
                                                   "time": _either(st.floats(0.1, 9))})
_CONFIG = st.one_of(_GOOD_CONFIG, _GOOD_CONFIG, _GOOD_CONFIG, st.fixed_dictionaries({"model": _ANY}), st.just([]))


def _lines(events):
    return "".join(json.dumps(e) + "\n" for e in events)


def _cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def _one_line_or_verdict(code, err):
    assert code in EXITS, (code, err)
    if code == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("splitbrain"), err


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(events=_history(), rounds=_status_rounds(), load=_load_events(), config=_CONFIG,
       extra=st.one_of(st.none(), st.none(), st.dictionaries(st.text(max_size=3), _ANY, max_size=2), st.just(1)),
       tail=st.sampled_from(["", "", "", '{"process": 1, "ty', "\n\n", "[1]\n"]))
def test_report_on_any_run_directory(tmp_path_factory, events, rounds, load, config, extra, tail):
    run = tmp_path_factory.mktemp("run")
    (run / "history.jsonl").write_text(_lines(events) + tail)
    (run / "status.jsonl").write_text(_lines(rounds))
    (run / "load-events.jsonl").write_text(_lines(load))
    (run / "config.json").write_text(json.dumps(config))
    if extra is not None:
        (run / "extra-summary.json").write_text(json.dumps(extra))
    code, out, err = _cli("report", run, "--timeout", "10")
    _one_line_or_verdict(code, err)
    if code != 2:
        assert (run / "summary.json").is_file() and (run / "report.html").is_file()
        assert "verdict:" in out


_KEYS = st.sampled_from(["system", "workload", "nemesis", "nemesis_mode", "backend", "nodes", "time", "concurrency", "rate",
                         "read_mode", "seed", "keys", "value_size", "nemesis_interval", "fault_duration", "quiet",
                         "out", "check_timeout", "snapshot_every", "unsafe_bug", "region_split_size", "endpoints",
                         "backend_options", "colour"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.one_of(st.dictionaries(_KEYS, _ANY, max_size=4), _ANY))
def test_run_config_of_any_json(tmp_path_factory, raw):
    """Every --config refused here is one line: the run's options are parsed and checked, never run
    (a config that passes every check is only checked, via the same path, not started)."""
    from splitbrain.commands.run import config_from_args
    from splitbrain.errors import UsageError

    p = tmp_path_factory.mktemp("cfg") / "config.json"
    p.write_text(json.dumps(raw))

    class Args:
        config = str(p)

    try:
        cfg = config_from_args(Args())
    except UsageError as e:
        assert "\n" not in str(e) and str(e)
        return
    for name in ("time", "nemesis_interval", "fault_duration", "quiet"):
        assert math.isfinite(getattr(cfg, name))


# -- report EXPLORE_DIR: the index rebuilt from index.jsonl, explore.json and the run directories -------

_ROW = st.fixed_dictionaries({
    "run": st.sampled_from(["r1", "r2", "r3"]), "role": st.sampled_from(["explore", "shrink"]),
    "seed": st.integers(0, 9), "workload": st.sampled_from(["register", "append"]),
    "read_mode": st.sampled_from([None, "lease"]), "faults": st.lists(st.sampled_from(["kill-one", "pause-one"])),
    "started": st.lists(st.sampled_from(["kill-one"])), "valid": st.sampled_from([True, False, "unknown"]),
    "verdict": st.sampled_from(["linearizable", "NOT LINEARIZABLE"]), "ops": st.integers(0, 99),
    "elections": st.integers(0, 3), "no_quorum_s": st.floats(0, 9), "unavailable_s": st.floats(0, 9),
    "seconds": st.floats(0, 99)})
_ROW_FIELDS = ("run", "role", "seed", "workload", "read_mode", "faults", "started", "valid", "verdict", "ops",
               "elections", "no_quorum_s", "unavailable_s", "seconds")
_PARAMS = st.fixed_dictionaries({}, optional={
    "faults": _either(st.lists(st.sampled_from(["kill-one", "pause-one"]))), "status": _either(st.just("done")),
    "args": _either(st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)),
    "shrunk": _either(st.lists(st.fixed_dictionaries({
        "from": _either(st.just("r1")), "faults": _either(st.lists(st.just("kill-one"))),
        "reproduced": _either(st.integers(0, 3)), "attempts": _either(st.integers(1, 3)),
        "config": _either(st.just("runs/r1/config.json"))}), max_size=2))})


@st.composite
def _index(draw):
    rows = draw(st.lists(_ROW, max_size=4))
    for _ in range(draw(_MUTATIONS) if rows else 0):
        rows[draw(st.integers(0, len(rows) - 1))][draw(st.sampled_from(_ROW_FIELDS))] = draw(_ANY)
    return rows


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_index(), tail=st.sampled_from(["", "", '{"run": "r', "[1]\n", "\n"]), params=_PARAMS,
       summary=st.one_of(st.none(), st.fixed_dictionaries({}, optional={
           "valid": _ANY, "nemesis": _either(st.just([{"fault": "kill-one", "phase": "start"}])),
           "ops": _either(st.just({"ok": 3})), "election_ms": _either(st.just({"count": 1})),
           "no_quorum_s": _either(st.floats(0, 9)), "unavailable_s": _ANY})),
       config=st.one_of(_GOOD_CONFIG, st.just([])))
def test_report_on_any_explore_directory(tmp_path_factory, rows, tail, params, summary, config):
    d = tmp_path_factory.mktemp("explore")
    (d / "index.jsonl").write_text(_lines(rows) + tail)
    (d / "explore.json").write_text(json.dumps(params))
    (d / "runs").mkdir()
    if summary is not None:  # a run killed before its line: read from its directory
        (d / "runs" / "r9").mkdir()
        (d / "runs" / "r9" / "summary.json").write_text(json.dumps(summary))
        (d / "runs" / "r9" / "config.json").write_text(json.dumps(config))
    code, out, err = _cli("report", d)
    _one_line_or_verdict(code, err)
    if code != 2:
        assert code in (0, 1) and (d / "index.txt").is_file() and (d / "index.html").is_file()
        assert code == (1 if any(r.get("valid") is False and r.get("role") == "explore" for r in rows) else code)


def test_a_corrupted_index_line_is_an_error_not_a_hidden_violation(tmp_path):
    """Only a torn last line may be dropped (and is named): a bad line before it was skipped, and the
    violation it recorded with it (exit 0)."""
    d = tmp_path / "explore"
    (d / "runs").mkdir(parents=True)
    bad = {"run": "r1", "role": "explore", "valid": False, "verdict": "NOT LINEARIZABLE", "faults": ["kill-one"]}
    good = {"run": "r2", "role": "explore", "valid": True, "verdict": "linearizable", "faults": ["kill-one"]}
    (d / "index.jsonl").write_text(json.dumps(bad)[:30] + "\n" + json.dumps(good) + "\n")
    code, out, err = _cli("report", d)
    assert code == 2 and err.strip().endswith("index.jsonl:1: not a JSON object (truncated or malformed line)"), \
        (code, out, err)
    (d / "index.jsonl").write_text(json.dumps(bad) + "\n" + json.dumps(good)[:30])
    code, out, err = _cli("report", d)
    assert code == 1 and "warning: " in out and "index.jsonl:2: torn last line dropped" in out, (code, out, err)
    (d / "index.jsonl").write_text(json.dumps({**bad, "faults": 3}) + "\n")
    code, out, err = _cli("report", d)
    assert code == 2 and "index.jsonl:1:" in err and "faults" in err, (code, out, err)


# -- cluster.json: what `splitbrain cluster` reads before it starts, stops or asks anything -----------

_CLUSTER_NODE = st.fixed_dictionaries({"id": st.integers(1, 3), "address": st.just("127.0.0.1:7001"),
                                       "peer_address": st.just("127.0.0.1:7002"),
                                       "admin_address": st.just("127.0.0.1:7003")})
_CLUSTER_FIELDS = ("id", "address", "peer_address", "admin_address")


@st.composite
def _cluster_config(draw):
    nodes = draw(st.lists(_CLUSTER_NODE, min_size=1, max_size=3))
    cfg = {"nodes": nodes, "options": draw(_either(st.fixed_dictionaries({}, optional={
        "read_mode": st.just("lease"), "storage": st.just("memory"), "snapshot_every": st.integers(1, 99)}))),
        "peer_tls": draw(_either(st.booleans()))}
    for _ in range(draw(_MUTATIONS)):
        where = draw(st.sampled_from(["top", "node", "field"]))
        if where == "top":
            cfg[draw(st.sampled_from(["nodes", "options", "peer_tls"]))] = draw(_ANY)
        elif where == "node":
            nodes[draw(st.integers(0, len(nodes) - 1))] = draw(_ANY)
        elif isinstance(nodes[0], dict):
            field = draw(st.sampled_from(_CLUSTER_FIELDS))
            if draw(st.booleans()):
                nodes[0].pop(field, None)
            else:
                nodes[0][field] = draw(_ANY)
    return draw(st.one_of(st.just(cfg), st.just(cfg), st.just(cfg), _ANY))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=_cluster_config(), action=st.sampled_from(["status", "down"]), as_json=st.booleans())
def test_cluster_on_any_cluster_json(tmp_path_factory, cfg, action, as_json):
    """status and down (which start nothing and, with no node's pid file, ask nothing) on any cluster.json:
    their answer, or one line and exit 2."""
    d = tmp_path_factory.mktemp("cluster")
    (d / "cluster.json").write_text(json.dumps(cfg))
    code, out, err = _cli("cluster", action, "--dir", d, *(["--json"] * as_json))
    assert code in (0, 2), (code, err)
    if code == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("splitbrain cluster: error: ") and "cluster.json" in lines[0], err


@pytest.mark.parametrize("action", ["up", "status", "down", "remove", "rejoin"])
@pytest.mark.parametrize("nodes, why", [
    ([{"id": 1, "admin_address": "127.0.0.1:7003"}], '"address"'),
    ([{"id": 1, "address": ["x"], "peer_address": "127.0.0.1:2", "admin_address": "127.0.0.1:3"}], '"address"'),
    ([{"id": True, "address": "127.0.0.1:1", "peer_address": "127.0.0.1:2", "admin_address": "127.0.0.1:3"}], '"id"'),
    ([{"id": 1, "address": "127.0.0.1:1", "peer_address": "127.0.0.1:99999", "admin_address": "127.0.0.1:3"}],
     '"peer_address"'),
    ([], '"nodes"'),
])
def test_a_cluster_json_of_the_wrong_shape_is_one_line_before_anything_starts(tmp_path, action, nodes, why):
    """A missing address was KeyError (a traceback, exit 1) in up, status, remove and rejoin; an id of
    true or a list for an address a TypeError or ValueError deeper in."""
    d = tmp_path / "cluster"
    d.mkdir()
    (d / "cluster.json").write_text(json.dumps({"nodes": nodes, "options": {}, "peer_tls": True}))
    code, out, err = _cli("cluster", action, *(["1"] if action in ("remove", "rejoin") else []), "--dir", d)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "cluster.json is not a cluster config" in lines[0] and why in lines[0], \
        (code, err)
    assert not (d / "nodes").exists()  # nothing was started


def test_cluster_json_options_are_the_ones_up_records(tmp_path):
    d = tmp_path / "cluster"
    d.mkdir()
    node = {"id": 1, "address": "127.0.0.1:1", "peer_address": "127.0.0.1:2", "admin_address": "127.0.0.1:3"}
    for options, why in [(3, '"options"'), ({"unsafe_no_fsync": True}, "unsafe_no_fsync"),
                         ({"read_mode": ["lease"]}, "read_mode")]:
        (d / "cluster.json").write_text(json.dumps({"nodes": [node], "options": options}))
        code, out, err = _cli("cluster", "up", "--dir", d)
        assert code == 2 and why in err and len(err.strip().splitlines()) == 1, (code, err)
        assert not (d / "nodes").exists()


# -- system files: every value of the wrong kind, out of range or not finite is one line --------------

def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else {math.inf: "inf", -math.inf: "-inf"}.get(v, repr(v))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{_toml_str(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"


def _toml_str(s: str) -> str:
    """A TOML basic string: control characters, the quote and the backslash escaped, the rest as it is."""
    return '"' + "".join(f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7f or c in '"\\' else c
                         for c in s) + '"'


def _keys(table, prefix=()):
    for k, v in table.items():
        yield prefix + (k,)
        if isinstance(v, dict):
            yield from _keys(v, prefix + (k,))


_TOML_ANY = st.recursive(
    st.one_of(st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True), st.text(max_size=6),
              st.sampled_from(["{host}:{port}", "{nope}", "{", "", "a b", "-1", "nan", "/no/such/program"])),
    lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=4), c, max_size=3)), max_leaves=6)


_EDGES = st.sampled_from([math.nan, math.inf, -math.inf, -1, 0, 0.0, 2**63, 1e300])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_run_with_any_system_file(tmp_path_factory, data, repo_root):
    """An example system file with up to three of its keys removed or given any value, checked as a run
    checks it before it starts anything (campaign.prepare): it passes, or one line names what is wrong."""
    import tomllib

    from splitbrain import campaign
    from splitbrain.config import RunConfig
    from splitbrain.errors import UsageError
    from splitbrain.systems import described
    from splitbrain.systems.described import SystemFileError

    known = sorted(set().union(*(v for k, v in vars(described).items() if k.endswith("_KEYS"))))
    example = data.draw(st.sampled_from(sorted((repo_root / "examples" / "systems").glob("*.toml"))))
    table = tomllib.loads(example.read_text())
    for _ in range(data.draw(st.integers(1, 3))):
        keys = list(_keys(table))
        key = data.draw(st.sampled_from(keys))
        parent = table
        for k in key[:-1]:
            parent = parent[k]
        how = data.draw(st.sampled_from(["drop", "set", "add"]))
        if how == "drop" and len(keys) > 1:
            del parent[key[-1]]
        elif how == "add":  # a key the file may hold, in this table or the one below
            target = parent[key[-1]] if isinstance(parent[key[-1]], dict) else parent
            target[data.draw(st.sampled_from(known))] = data.draw(st.one_of(_TOML_ANY, _EDGES))
        else:
            parent[key[-1]] = data.draw(_TOML_ANY)
    d = tmp_path_factory.mktemp("system")
    path = d / example.name
    path.write_text("".join(f"{_toml_str(k)} = {_toml_value(v)}\n" for k, v in table.items()))
    try:
        prepared = campaign.prepare(RunConfig(system=str(path), out=str(d / "results"), time=5).validate())
    except (SystemFileError, UsageError) as e:
        assert str(e) and "\n" not in str(e)
        assert "not valid TOML" not in str(e), str(e)  # the writer above writes TOML
        return
    prepared.cluster.close()
    assert not (d / "results").exists() or not any((d / "results").iterdir())
    bad = _not_finite(prepared.cluster.system)
    assert bad is None, f"{bad} accepted from {path.read_text()}"


def _not_finite(obj, seen=None, where="system"):
    """Where a NaN or an infinity sits in what a system file became (None: nowhere)."""
    seen = set() if seen is None else seen
    if id(obj) in seen or isinstance(obj, (str, bytes, int, type(None))) and not isinstance(obj, float):
        return None
    seen.add(id(obj))
    if isinstance(obj, float):
        return None if math.isfinite(obj) else where
    import dataclasses

    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    elif dataclasses.is_dataclass(obj):
        items = [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj)]
    elif hasattr(obj, "__dict__") and type(obj).__module__.startswith("splitbrain"):
        items = vars(obj).items()
    else:
        items = ()
    for k, v in items:
        found = _not_finite(v, seen, f"{where}.{k}")
        if found:
            return found
    return None
