"""From `--nemesis` names to fault packages, and what each package says of itself (pure)."""
from __future__ import annotations

import random
import re

import pytest

from nemesis import faults
from nemesis.faults.base import NEEDS, Context
from nemesis.schedule import plan
from nemesis.types import ClockControl, Corruptible, DiskFull, PowerLoss, TornWrites
from splitbrain import faultplan, report
from splitbrain.config import DEMO_NEMESIS
from splitbrain.errors import UsageError

pytestmark = pytest.mark.unit


def names(pkgs):
    return [p.name for p in pkgs]


def test_a_family_is_its_packages_in_catalogue_order_and_a_name_is_itself():
    assert names(faultplan.resolve(["partition"])) == [
        "partition-halves", "partition-random-halves", "partition-one", "partition-leader",
        "partition-majorities-ring", "partition-bridge", "partition-one-way"]
    assert names(faultplan.resolve(["kill"])) == ["kill-one", "kill-minority", "kill-leader"]  # not kill-all
    assert names(faultplan.resolve(["disk"])) == ["power-loss-one", "disk-full"]
    assert names(faultplan.resolve(["power-loss"])) == ["power-loss-one", "power-loss-all"]
    assert names(faultplan.resolve(["kill-all", "clock-slow-leader"])) == ["kill-all", "clock-slow-leader"]
    with pytest.raises(UsageError, match=r"unknown fault 'quake' \(known: .*bandwidth.*partition-leader"):
        faultplan.resolve(["quake"])


def test_the_demo_schedule_is_the_one_it_always_was():
    # seed 0, the demo's timings: the order runs before this change recorded
    steps = plan(faultplan.resolve(DEMO_NEMESIS), seed=0, duration=57.0, interval=5.0, fault_duration=3.0)
    assert [s.fault for s in steps if s.action == "start"] == [
        "partition-one-way", "kill-one", "partition-majorities-ring", "partition-leader", "pause-leader",
        "kill-minority"]


def test_backend_options_come_from_the_capabilities_packages_require():
    assert faultplan.backend_options(["partition", "kill", "pause"]) == {}
    assert faultplan.backend_options(["clock-slow-leader"]) == {"clock_control": True}  # required, not named
    assert faultplan.backend_options(["disk"]) == {"power_loss": True, "disk_mb": 64}
    assert faultplan.backend_options(["disk"], accepted={"power_loss"}) == {"power_loss": True}
    for p in faults.catalogue():
        opts = faultplan.backend_options([p.name])
        assert ("clock_control" in opts) == (ClockControl in p.requires), p.name
        assert ("power_loss" in opts) == bool({PowerLoss, TornWrites, Corruptible} & set(p.requires)), p.name
        assert ("disk_mb" in opts) == (DiskFull in p.requires), p.name


def test_every_package_is_a_whole_value():
    pkgs = faults.catalogue()
    assert len({p.name for p in pkgs}) == len(pkgs)
    for p in pkgs:
        assert p.family and re.fullmatch(r"#[0-9a-f]{6}", p.colour), p.name
        assert set(p.needs) <= set(NEEDS) and p.start_timeout > 0, p.name
        assert p.start_f and p.stop_f, p.name
    families = {p.family for p in pkgs}
    offered = {g for p in pkgs for g in p.groups}
    assert families <= offered | {"kill", "pause", "clock"} and offered <= families
    # a family is drawn in one colour, whatever else its packages differ in
    assert all(len({p.colour for p in pkgs if p.family == f}) == 1 for f in families)


def test_a_power_loss_is_not_drawn_in_the_packet_loss_colour():
    colours = report.fault_colours()
    assert colours["power-loss-one"] != colours["packet-loss"]
    assert colours["power-loss-one"] == colours["power-loss-all"] == faults.get("power-loss-one").colour


class Backend:
    """Enough for the schedule: nodes that can be killed and restarted, links that can be cut."""

    def __init__(self, nodes=("1", "2", "3")):
        self._nodes, self.down, self.cut_links = list(nodes), set(), set()

    def nodes(self):
        return list(self._nodes)

    def kill(self, n):
        self.down.add(n)

    def start(self, n):
        self.down.discard(n)

    def is_running(self, n):
        return n not in self.down

    def cut(self, a, b):
        self.cut_links.add((a, b))

    def restore(self, a, b):
        self.cut_links.discard((a, b))

    def restore_all(self):
        self.cut_links.clear()


def test_packages_refuse_what_the_context_or_backend_lacks_with_the_reason():
    ctx = Context(Backend(), random.Random(0))
    usable, refused = faultplan.packages(["kill", "partition"], ctx)
    assert "kill-leader" not in names(usable) and ("kill-leader", [faultplan.NEED_WORDS["leader"]]) in refused
    with pytest.raises(UsageError) as e:
        faultplan.packages(["kill-voter"], ctx)
    assert str(e.value) == ("fault 'kill-voter' cannot run here: needs a backend that can delay packets, a system "
                            "that names its leader (a [leader] probe in a system file), a system the suite can probe")
    usable, refused = faultplan.packages(["kill", "partition"], ctx, allow_link_faults=False, why_no_links="iptables")
    assert not any(p.acts_on_links for p in usable) and ("partition-one", ["iptables"]) in refused


def test_every_need_and_capability_has_words_a_user_can_act_on():
    from nemesis.faults.base import NEEDS
    from nemesis.types import CAPABILITIES

    assert set(faultplan.NEED_WORDS) == set(NEEDS)
    assert set(faultplan.CAPABILITY_WORDS) == {c.__name__ for c in CAPABILITIES}
    with pytest.raises(UsageError, match="'membership' cannot run here: needs a system whose membership the suite "
                                         r"can change \(the reference KV on a backend that can kill and wipe nodes, or "
                                         r"\[membership\] remove and add commands in a system file\)$"):
        faultplan.packages(["membership"], Context(Backend(), random.Random(0)))


def test_run_help_lists_every_fault_from_the_registry():
    from nemesis import faults

    text = faultplan.help_text()
    assert all(p.name in text for p in faults.catalogue())


def test_the_schedule_writes_each_steps_phase_and_the_final_heal_stops_the_rest():
    from nemesis.history import MemoryHistory
    from nemesis.schedule import Schedule

    ctx = Context(Backend(), random.Random(0))
    hist = MemoryHistory()
    sched = Schedule(ctx, faults.by_name(["kill-one", "partition-halves"]), hist, seed=3, duration=20,
                     interval=2, fault_duration=1, quiet=0)
    for step in sched.steps[:-1]:  # the last stop is left to the final heal
        sched._do(step)
    broken = faults.get("kill-one")

    def fails(ctx):
        raise RuntimeError("no")

    sched.packages["kill-one"] = dataclass_replace(broken, start=fails)
    sched._do(type(sched.steps[0])(99.0, "start", "kill-one", 99))
    sched.final_heal()
    events = [e for e in hist.events if e["f"] not in ("nemesis-start", "nemesis-stop")]
    planned = [(s.action, s.fault) for s in sched.steps]
    *steps, failed, last, heal = events
    assert [(e["phase"], e["fault"]) for e in steps + [last]] == planned  # the final heal stopped the last
    assert failed["f"] == "start-failed" and failed["fault"] == "kill-one" and "phase" not in failed
    assert heal["f"] == "heal" and heal["phase"] == "stop" and "fault" not in heal
    assert not ctx.backend.down and not ctx.backend.cut_links


def dataclass_replace(pkg, **kw):
    import dataclasses

    return dataclasses.replace(pkg, **kw)


def test_a_strobe_left_running_stops_at_the_final_heal():
    from nemesis.schedule import heal_everything

    class Clocks(Backend):
        def set_clock(self, n, offset, rate=1.0):
            pass

    ctx = Context(Clocks(), random.Random(0))
    value = faults.get("clock-strobe").start(ctx)
    assert value["strobe"] in ctx.running
    done = heal_everything(ctx)
    assert done["stopped"] == [value["strobe"]] and not ctx.running


def test_what_a_fault_broke_is_read_from_the_history_it_wrote():
    """No name of a fault is known to the analysis: a kill-all written by the schedule is a no-quorum
    interval because its start says which nodes are down, and it ends at its stop."""
    from nemesis.history import MemoryHistory
    from nemesis.schedule import Schedule
    from splitbrain import analysis

    ctx = Context(Backend(), random.Random(0))
    hist = MemoryHistory()
    sched = Schedule(ctx, faults.by_name(["kill-all"]), hist, seed=1, duration=6, interval=2, fault_duration=1,
                     quiet=0, jitter=0)
    for step in sched.steps:
        sched._do(step)
    sched.final_heal()
    h = analysis.from_events(hist.events)
    start, stop = [e for e in h.nemesis if e.fault == "kill-all"][:2]
    assert (start.phase, stop.phase) == ("start", "stop") and start.value["down"] == ["1", "2", "3"]
    nq = analysis.no_quorum(h, [{"time": 0, "nodes": {"1": None, "2": None, "3": None}}], 3)
    assert [(iv["start"], iv["end"], iv["faults"]) for iv in nq][0] == (start.time, stop.time, ["kill-all"])


def test_a_combined_schedule_runs_its_lanes_at_once_and_heals_all():
    """A kill waits in its start (a leader that must be found): the partitions of the links lane go on meanwhile."""
    import threading
    import time

    from nemesis.history import MemoryHistory
    from nemesis.schedule import Schedule

    released = threading.Event()
    blocking = dataclass_replace(faults.get("kill-one"), start=lambda ctx: released.wait(5) and {"nodes": []})
    ctx = Context(Backend(), random.Random(0))
    hist = MemoryHistory()
    sched = Schedule(ctx, [blocking, faults.get("partition-halves")], hist, seed=1, duration=0.6, interval=0.1,
                     fault_duration=0.1, quiet=0, jitter=0, mode="combined")
    assert {s.lane for s in sched.steps} == {"nodes", "links"}
    sched.start()
    deadline = time.monotonic() + 5
    while sum(e["f"] == "heal" and e.get("fault") == "partition-halves" for e in hist.events) < 2:
        assert time.monotonic() < deadline, hist.events
        time.sleep(0.01)
    released.set()
    sched.join(5)
    sched.stop()
    fs = [(e["f"], e.get("fault")) for e in hist.events]
    assert fs.index(("heal", "partition-halves")) < fs.index(("kill", "kill-one"))  # links went on meanwhile
    assert fs[-2][0] == "heal" and not ctx.backend.cut_links and not ctx.backend.down
    with pytest.raises(ValueError, match="unknown schedule mode"):
        Schedule(ctx, [blocking], hist, mode="parallel")


def test_a_kill_storm_kills_one_node_again_and_again_until_its_stop():
    import time

    class Counting(Backend):
        def __init__(self):
            super().__init__()
            self.kills, self.starts = [], []

        def kill(self, n):
            self.kills.append(n)
            super().kill(n)

        def start(self, n):
            self.starts.append(n)
            super().start(n)

    ctx = Context(Counting(), random.Random(4))
    storm = faults.get("kill-storm")
    assert storm.lane == "nodes" and "kill-storm" not in names(faultplan.resolve(["kill"]))
    value = storm.start(ctx)
    [node] = value["nodes"]
    assert value["down"] == [node] and value["storm"] in ctx.running
    time.sleep(1.0)  # 20-300 ms between kills: about 6
    out = storm.stop(ctx, value)
    b = ctx.backend
    assert set(b.kills) == {node} and 3 <= len(b.kills) == out["kills"] and not b.down and not ctx.killed
    assert not ctx.running and b.starts[-1] == node
    settled = len(b.kills)
    time.sleep(0.4)
    assert len(b.kills) == settled  # stopped for good
    # the final heal stops a storm left running, and restarts its node
    from nemesis.schedule import heal_everything

    value = storm.start(ctx)
    time.sleep(0.1)
    heal_everything(ctx)
    assert not ctx.running and not b.down


def test_a_wipe_deletes_a_stopped_nodes_data_and_says_whether_its_system_took_it_back(monkeypatch):
    from nemesis.faults import wipe

    monkeypatch.setattr(wipe, "REFUSAL_WAIT", 0.3)

    class Disks(Backend):
        def __init__(self, refuses):
            super().__init__()
            self.refuses, self.wiped = refuses, []

        def wipe(self, n):
            assert n in self.down  # never under a running node
            self.wiped.append(n)

        def is_running(self, n):
            return super().is_running(n) and not (self.refuses and n in self.wiped)

    pkg = faults.get("wipe-one")
    assert pkg.lane == "nodes"
    usable, refused = faultplan.packages(["wipe"], Context(Disks(False), random.Random(0)))
    assert names(usable) == ["wipe-one"]
    with pytest.raises(UsageError, match="'wipe-one' cannot run here: needs a backend that can delete a node's data"):
        faultplan.packages(["wipe-one"], Context(Backend(), random.Random(0)))
    for refuses in (False, True):
        ctx = Context(Disks(refuses), random.Random(0))
        value = pkg.start(ctx)
        [node] = value["nodes"]
        assert ctx.backend.wiped == [node] and not ctx.killed
        assert value["refused"] == value["down"] == ([node] if refuses else [])
        assert pkg.stop(ctx, value)["refused"] == value["refused"]
    # a system that describes its way back (a system file's [membership]): removed, added, restarted
    calls = []
    backend = Disks(True)
    ctx = Context(backend, random.Random(0), remove_member=lambda n: calls.append(("remove", n)),
                  add_member=lambda n: (calls.append(("add", n)), backend.wiped.clear()))
    value = pkg.start(ctx)
    [node] = value["refused"]
    out = pkg.stop(ctx, value)
    assert calls == [("remove", node), ("add", node)] and out["procedure"] == "remove, add, restart"
    assert out["refused"] == [] and backend.is_running(node)


def test_damage_that_stays_hits_one_node_per_run_and_a_torn_write_any(monkeypatch):
    """Two truncations on two nodes of three lose a majority's data for good: no system survives that."""
    import dataclasses

    from nemesis.faults import wipe

    monkeypatch.setattr(wipe, "REFUSAL_WAIT", 0.05)

    class Damageable(Backend):
        def __init__(self):
            super().__init__(("1", "2", "3", "4", "5"))
            self.hit = []

        def corrupt(self, n, mode, pattern, seed):
            self.hit.append(n)
            return {"file": "/f", "mode": mode}

        def tear_unsynced(self, n, seed):
            self.hit.append(n)
            return {}

        def wipe(self, n):
            self.hit.append(n)

    ctx = Context(Damageable(), random.Random(0))
    for step in range(12):  # as the schedule runs each step: its own Random, the run's memo
        step_ctx = dataclasses.replace(ctx, rng=random.Random(f"1:{step}"))
        pkg = faults.get(("bitflip-one", "truncate-one", "wipe-one")[step % 3])
        pkg.stop(step_ctx, pkg.start(step_ctx))
    assert len(set(ctx.backend.hit)) == 1
    ctx.backend.hit.clear()
    for step in range(12):
        step_ctx = dataclasses.replace(ctx, rng=random.Random(f"1:{step}"))
        pkg = faults.get("power-loss-torn")
        pkg.stop(step_ctx, pkg.start(step_ctx))
    assert len(set(ctx.backend.hit)) > 1


def test_a_start_that_outlasts_the_final_heal_is_undone_by_its_own_lane():
    """stop() waits for a blocked start at most its start_timeout; a start that finishes after the final heal
    (a kill that waited for its moment) was left in force, a node down after the run, before."""
    import threading

    from nemesis.history import MemoryHistory
    from nemesis.schedule import Schedule

    released = threading.Event()
    kill = faults.get("kill-one")

    def slow_start(ctx):
        released.wait(5)
        return kill.start(ctx)

    ctx = Context(Backend(), random.Random(0))
    hist = MemoryHistory()
    sched = Schedule(ctx, [dataclass_replace(kill, start=slow_start)], hist, seed=1, duration=5, interval=1,
                     fault_duration=1, quiet=0, jitter=0)
    lane = threading.Thread(target=sched._do, args=(sched.steps[0],))
    lane.start()
    sched.final_heal()  # the run ends while the kill waits
    released.set()
    lane.join(5)
    fs = [(e["f"], e.get("phase")) for e in hist.events]
    assert fs[-2:] == [("kill", "start"), ("restart", "stop")], fs
    assert not ctx.backend.down and not sched.active
