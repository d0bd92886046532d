"""Fault packages and a whole schedule on the local backend with the stand-in node."""
from __future__ import annotations

import json
import multiprocessing
import random

import pytest

from nemesis import faults
from nemesis.backends.local import LocalBackend
from nemesis.faults import partition
from nemesis.faults.base import Context
from nemesis.history import HistoryWriter
from nemesis.schedule import Schedule
from nemesis_helpers import running_standins, hears, http_json, run_id, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    rid = run_id()
    yield from running_standins(LocalBackend, tmp_path_factory.mktemp("sched"), rid)


def all_hear(b) -> bool:
    return all(hears(b, n, p) for n in b.nodes() for p in b.nodes() if p != n)


@pytest.fixture
def ctx(cluster):
    wait_until(lambda: all_hear(cluster), what="a connected cluster")
    return Context(cluster, rng=random.Random(5), leader=lambda: "n2")


@pytest.mark.parametrize("name", [p.name for p in partition.packages()])
def test_partition_package_cuts_its_grudge_and_heals(ctx, name):
    pkg = faults.get(name)
    value = pkg.start(ctx)
    grudge = value["grudge"]
    assert grudge, f"{name} cut nothing"
    for dst, srcs in grudge.items():
        for src in srcs:
            wait_until(lambda: hears(ctx.backend, dst, src) is False, timeout=3, what=f"{dst} deaf to {src}")
    open_pairs = [(s, d) for d in ctx.nodes for s in ctx.nodes if s != d and s not in grudge.get(d, [])]
    assert all(hears(ctx.backend, d, s) for s, d in open_pairs)
    pkg.stop(ctx, value)
    wait_until(lambda: all_hear(ctx.backend), timeout=5, what="healed")


def test_leader_partition_isolates_the_leader(ctx):
    value = faults.get("partition-leader").start(ctx)
    assert set(value["grudge"]) == {"n1", "n2", "n3"} and value["grudge"]["n2"] == ["n1", "n3"]
    faults.get("partition-leader").stop(ctx, value)


@pytest.mark.parametrize("name", ["kill-one", "kill-minority", "kill-leader", "kill-all"])
def test_kill_packages(ctx, name):
    pkg = faults.get(name)
    value = pkg.start(ctx)
    assert value["nodes"]
    for n in value["nodes"]:
        assert not ctx.backend.is_running(n)
        assert http_json(ctx.backend.addresses(n).client, timeout=0.3) is None
    pkg.stop(ctx, value)
    for n in value["nodes"]:
        wait_until(lambda: http_json(ctx.backend.addresses(n).client), what=f"{n} restarted")


def test_pause_package(ctx):
    pkg = faults.get("pause-leader")
    value = pkg.start(ctx)
    assert value["nodes"] == ["n2"]
    assert http_json(ctx.backend.addresses("n2").client, timeout=0.3) is None
    pkg.stop(ctx, value)
    wait_until(lambda: http_json(ctx.backend.addresses("n2").client), what="n2 resumed")


def test_loss_and_slow_link_packages(ctx):
    for name in ("packet-loss", "slow-link"):
        pkg = faults.get(name)
        value = pkg.start(ctx)
        node = value["nodes"][0]
        stats = ctx.backend.link_stats()
        touched = {k for k, v in stats.items() if v["loss"] or v["delay"]}
        assert touched == set(value["links"]) and all(node in link.split("->") for link in touched)
        pkg.stop(ctx, value)
        assert not any(v["loss"] or v["delay"] for v in ctx.backend.link_stats().values())


def _append_lines(path, n):
    w = HistoryWriter(path)
    for i in range(n):
        w.event("probe", {"i": i, "pad": "x" * 3000})
    w.close()


def test_history_lines_from_two_processes_never_interleave(tmp_path):
    path = tmp_path / "history.jsonl"
    procs = [multiprocessing.get_context("spawn").Process(target=_append_lines, args=(path, 300)) for _ in range(2)]
    for p in procs:
        p.start()
    _append_lines(path, 300)
    for p in procs:
        p.join(30)
    lines = path.read_text().splitlines()
    assert len(lines) == 900
    assert all(json.loads(line)["process"] == "nemesis" for line in lines)


def test_schedule_runs_records_and_always_heals(ctx, tmp_path):
    hist = tmp_path / "history.jsonl"
    pk = faults.by_name(["partition-random-halves", "kill-one", "pause-one", "partition-one-way"])
    sched = Schedule(ctx, pk, HistoryWriter(hist), seed=11, duration=3.0, interval=0.4,
                     fault_duration=0.4, quiet=0.2)
    planned = [(s.action, s.fault) for s in sched.steps]
    sched.start()
    sched.join(30)
    sched.stop()
    events = [json.loads(line) for line in hist.read_text().splitlines()]
    assert events[0]["f"] == "nemesis-start" and events[-1]["f"] == "nemesis-stop"
    assert events[-2]["f"] == "heal"
    assert not sched.errors, sched.errors
    times = [e["time"] for e in events]
    assert times == sorted(times)
    fault_events = [e for e in events if "fault" in e]
    assert [(e["phase"], e["fault"]) for e in fault_events] == planned  # start/stop as planned, not guessed
    assert events[-2]["phase"] == "stop" and "fault" not in events[-2]  # the final heal stops what is left
    wait_until(lambda: all_hear(ctx.backend), timeout=5, what="healed after the schedule")
    assert all(ctx.backend.is_running(n) for n in ctx.nodes)


def test_stop_mid_fault_heals(ctx, tmp_path):
    pk = faults.by_name(["partition-halves"])
    sched = Schedule(ctx, pk, HistoryWriter(tmp_path / "h.jsonl"), seed=1, duration=60, interval=0.1,
                     fault_duration=30, quiet=0, jitter=0)
    sched.start()
    wait_until(lambda: sched.active, timeout=5, what="fault started")
    wait_until(lambda: not all_hear(ctx.backend), timeout=3, what="partition in effect")
    sched.stop()
    events = [json.loads(line)["f"] for line in (tmp_path / "h.jsonl").read_text().splitlines()]
    assert events == ["nemesis-start", "start-partition", "heal", "heal", "nemesis-stop"]
    wait_until(lambda: all_hear(ctx.backend), timeout=5, what="healed after stop()")


def test_schedule_refuses_faults_the_backend_cannot_do(ctx, tmp_path):
    with pytest.raises(ValueError, match="clock-skew needs ClockControl"):
        Schedule(ctx, faults.by_name(["clock-skew"]), HistoryWriter(tmp_path / "h"), duration=1)
