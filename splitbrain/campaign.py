"""One run, start to finish: cluster up, load + nemesis + monitor, heal, check, report.

Processes: this one owns the cluster (through a nemesis backend), the nemesis
schedule and the status monitor; the Locust load runs in a child process
(importing Locust gevent-patches its process). Both append to the same
history.jsonl with one write() per event, stamped with the same monotonic
clock, so the history is one timeline.

Whatever happens (Ctrl-C, a crash of the load, a node that never comes up),
the `finally` path heals the faults, stops the cluster, collects node logs and
evaluates what was recorded: nothing recorded is lost.
"""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

from splitbrain import rundir, systems
from splitbrain.config import RunConfig
from splitbrain.errors import UsageError
from splitbrain.monitor import Monitor


def _say(msg: str) -> None:
    print(f"[splitbrain] {msg}", file=sys.stderr, flush=True)


class Cluster:
    """A system on a backend, with the probes the monitor and faults need.

    Making one checks it and creates nothing (the backend is made, so an engine
    that does not answer or hosts that are missing are refused here); `start`
    sets the backend up and starts the nodes; `stop` undoes both, whatever
    happened."""

    managed = True

    def __init__(self, cfg: RunConfig, run: pathlib.Path):
        from nemesis import backends
        from nemesis.backends.host import HostBackend

        self.cfg = cfg
        self.system = preflight(cfg)
        try:
            self.backend = backends.create(cfg.backend, str(run / "nodes"), **_backend_options(cfg))
        except (ValueError, RuntimeError) as e:
            raise UsageError(f"backend {cfg.backend}: {e}") from None
        self.specs = self.system.node_specs(cfg.nodes)
        self.ids = [s.id for s in self.specs]
        self.addresses = {}
        self.run_id = self.backend.run_id  # every process, namespace, rule and container of the run bears it
        self.statuses: dict[str, str] = {}  # each node's last status answer, or why it had none
        limit = self.backend.max_nodes
        why_not = None
        if cfg.nodes > limit:
            why_not = f"the {cfg.backend} backend runs at most {limit} node(s), not --nodes {cfg.nodes}"
        elif isinstance(self.backend, HostBackend) and hasattr(self.system, "missing_command"):
            why_not = self.system.missing_command()  # nodes run on this machine: their program must be here
        if why_not:
            self.close()
            raise UsageError(why_not)

    def start(self, ready_timeout: float | None = None) -> None:
        try:
            self.addresses = self.backend.setup(self.specs)
        except (OSError, RuntimeError, ValueError) as e:
            raise UsageError(f"cannot set up the {self.cfg.backend} backend: {e}") from None
        for node in self.ids:
            try:
                self.backend.start(node)
            except OSError as e:
                raise UsageError(f"node {node} did not start: {e.strerror or e}"
                                 f"{': ' + str(e.filename) if e.filename else ''}") from None
        self.wait_ready(ready_timeout)

    def close(self) -> None:
        """Let go of a cluster that was never started (what making the backend opened)."""
        try:
            self.backend.teardown()
        except Exception as e:  # noqa: BLE001 - nothing was started: nothing to lose
            _say(f"closing the {self.cfg.backend} backend: {e}")

    def wait_ready(self, ready_timeout: float | None = None) -> None:
        """Every node ready, then (for systems with leaders) a leader a majority agrees on."""
        ready_timeout = ready_timeout or getattr(self.system, "ready_timeout", None) or 60.0
        deadline = time.monotonic() + ready_timeout
        waiting = list(self.ids)
        while time.monotonic() < deadline:
            waiting = [n for n in waiting if not self._ready(n)]
            if not waiting and (not self.system.has_leader or self.leader() is not None):
                return
            self._check_alive()
            time.sleep(0.1)
        what = f"nodes {', '.join(waiting)} were not ready" if waiting else "no leader was agreed on"
        raise UsageError(f"{self.system.name}: {what} within {ready_timeout:.0f}s "
                         f"(node logs in {self.backend_workdir()})" + ("" if waiting else self._answers()))

    def _answers(self) -> str:
        """Each node's probe's last answer: what the suite saw when it looked for a leader."""
        last = getattr(self.system, "last_answer", None)
        seen = [f"node {n}: {(last and last(n)) or self.statuses.get(n, 'no answer')}" for n in self.ids]
        return "; the probes last answered " + "; ".join(seen)

    def _ready(self, node: str) -> bool:
        try:
            return self.system.ready(self.addresses[node], 0.5)
        except (OSError, ValueError):
            return False

    def _check_alive(self) -> None:
        dead = [n for n in self.ids if not self.backend.is_running(n)]
        if dead:
            raise UsageError(f"{self.system.name}: node {dead[0]} exited during start-up "
                             f"(its log: {self.addresses[dead[0]].log_path or self.backend_workdir()})")

    def backend_workdir(self) -> str:
        return getattr(self.backend, "workdir", "the run directory")

    def client_endpoints(self) -> list[str]:
        return [str(self.addresses[n].client) for n in self.ids]

    def client_spec(self):
        return self.system.client_spec({n: self.addresses[n] for n in self.ids}, self.managed)

    def status(self, node: str, timeout: float = 0.5) -> dict | None:
        try:
            st = self.system.status(self.addresses[node], timeout)
        except (OSError, ValueError) as e:
            self.statuses[node] = f"no answer ({type(e).__name__}: {e})"
            return None
        self.statuses[node] = json.dumps(st) if st is not None else "no answer"
        return st

    def leader(self) -> str | None:
        """The node a majority agrees leads, as the monitor would see it."""
        from splitbrain.analysis import agreed_leader

        if not self.system.has_leader:
            return None
        nodes = {n: self.status(n) for n in self.ids}
        agreed = agreed_leader({"nodes": nodes}, len(self.ids))
        return agreed[0] if agreed else None

    def _admin(self, action: str):
        """The system's admin action (remove_member, add_member, transfer_leader) as a fault calls it
        (with the node it is about), or None when the system has none."""
        if action not in getattr(self.system, "admin_actions", ()):
            return None
        needs = getattr(self.system, "admin_requires", {}).get(action, ())
        if not all(isinstance(self.backend, c) for c in needs):
            return None  # the system's procedure needs what this backend cannot do
        if needs:  # the procedure restarts nodes itself
            return lambda node: self.system.admin(action, self.addresses, self.leader(), node, backend=self.backend)
        return lambda node: self.system.admin(action, self.addresses, self.leader(), node)

    def fault_context(self):
        from nemesis.faults import Context

        # Faults that wait for a moment read the nodes through the adapter's probe, as the monitor does.
        return Context(self.backend, leader=self.leader if self.system.has_leader else None, status=self.status,
                       remove_member=self._admin("remove_member"), add_member=self._admin("add_member"),
                       transfer_leader=self._admin("transfer_leader"))

    def stop(self, logs_to: pathlib.Path) -> None:
        try:
            if pathlib.Path(self.backend_workdir()).resolve() != logs_to.resolve():
                self.backend.collect_logs(str(logs_to))
        except Exception as e:  # noqa: BLE001 - never lose the run for want of logs
            _say(f"could not collect node logs: {e}")
        self.backend.teardown()


class ExternalCluster(Cluster):
    """A cluster the suite does not run (--endpoints): probed and loaded, never faulted."""

    managed = False

    def __init__(self, cfg: RunConfig, run: pathlib.Path):
        from nemesis.backends.host import new_run_id
        from nemesis.types import Addr
        from splitbrain.systems.described import probe_addresses

        self.cfg = cfg
        self.system = preflight(cfg)  # the endpoints answer
        self.run_id = new_run_id()  # the load carries it: `splitbrain cleanup` finds the load of a killed run
        self.ids = [str(i) for i in range(1, len(cfg.endpoints) + 1)]
        self.addresses = {}
        self.statuses = {}
        for n, e in zip(self.ids, cfg.endpoints):
            host, _, port = e.rpartition(":")
            self.addresses[n] = probe_addresses(n, Addr(host.strip("[]"), int(port)))

    def start(self, ready_timeout: float | None = None) -> None:
        self.wait_ready(ready_timeout)

    def close(self) -> None:
        pass

    def _check_alive(self) -> None:
        pass

    def backend_workdir(self) -> str:
        return "the cluster's own logs"

    def fault_context(self):
        return None

    def stop(self, logs_to: pathlib.Path) -> None:
        pass


def client_spec(cluster: Cluster, run: pathlib.Path):
    """The cluster's client spec; a process client's stderr goes to the run directory, a file per user."""
    from workloads.clients import protocol_name

    spec = cluster.client_spec()
    if isinstance(spec, dict) and protocol_name(spec) == "process" and "stderr" not in spec:
        spec = {**spec, "stderr": str(run / rundir.CLIENT_LOGS / "user-{user}.log")}
    return spec


def _load_process(cfg: RunConfig, run: pathlib.Path, cluster: Cluster) -> subprocess.Popen:
    system = cluster.system
    load = {
        # the client spec (a name or an object with the client's options) travels as JSON
        "system": client_spec(cluster, run), "endpoints": cluster.client_endpoints(), "workload": cfg.workload,
        "users": cfg.concurrency, "spawn_rate": max(1.0, cfg.concurrency), "run_time": cfg.time,
        "rate": cfg.rate or 0.0, "keys": cfg.keys, "seed": cfg.seed,
        "read_mode": getattr(system, "read_mode", None),  # the run's, or the system's default
        "history_path": str(run / rundir.HISTORY), "csv_prefix": str(run / rundir.LOCUST_PREFIX),
        "events_path": str(run / rundir.LOAD_EVENTS),
        "html_path": str(run / "locust.html"),
        **({"value_size": cfg.value_size} if cfg.value_size else {}),
    }
    extra_path = getattr(system, "client_path", None)  # where a user's python:module:Class lives
    extra = ["--append-path", extra_path] if extra_path else []
    from nemesis.backends.host import RUN_ENV

    proc = subprocess.Popen([sys.executable, "-m", "workloads.run", "--progress", *extra, "--config", json.dumps(load)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True,
                            env={**os.environ, RUN_ENV: cluster.run_id})  # found by `splitbrain cleanup`
    threading.Thread(target=_relay_load_output, args=(proc, run, cfg.time), daemon=True,
                     name="load-output").start()
    return proc


def _relay_load_output(proc: subprocess.Popen, run: pathlib.Path, total: float) -> None:
    """The load's stdout: one progress line on the terminal, Locust's own tables
    passed through, the machine-readable result kept in the run directory."""
    tty = sys.stderr.isatty()
    last_printed, line_open = -1e9, False
    started: list[int] = []  # the load's start, in the history's clock
    for raw in proc.stdout:
        line = raw.decode(errors="replace").rstrip("\n")
        if line.startswith("progress "):
            p = json.loads(line[len("progress "):])
            text = (f"[splitbrain] load {p['elapsed']:4.0f}/{total:.0f} s  {p['requests']} ops  "
                    f"{p['failures']} failed  {p['current_rps']:.0f} ops/s")
            if tty:  # one line, rewritten in place
                print("\r" + text, end="", file=sys.stderr, flush=True)
                line_open = True
            elif p["elapsed"] - last_printed >= 10:
                last_printed = p["elapsed"]
                print(text, file=sys.stderr, flush=True)
        elif line.startswith("event "):
            text = _load_event(json.loads(line[len("event "):]), started)
            if text:
                print(("\n" if line_open else "") + f"[splitbrain] {text}", file=sys.stderr, flush=True)
                line_open = False
        elif line.startswith("result "):
            (run / "load-result.json").write_text(line[len("result "):] + "\n")
        else:
            print(("\n" if line_open else "") + line, file=sys.stderr, flush=True)
            line_open = False


def _load_event(ev: dict, started: list[int]) -> str | None:
    """A load event as a terminal line: a user that died is said at once."""
    if ev.get("event") == "start":
        started.append(ev.get("time", 0))
    elif ev.get("event") == "user-died":
        at = f" at {(ev['time'] - started[0]) / 1e9:.1f} s" if started and isinstance(ev.get("time"), int) else ""
        return f"load user {ev.get('user')} died{at}: {ev.get('error')}"
    return None


def _wait_for_first_operation(proc: subprocess.Popen, history: pathlib.Path, timeout: float = 60.0) -> None:
    """Faults start once clients are running, not while Locust is still importing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise UsageError(f"the load process exited with status {proc.returncode} before its first operation")
        with open(history, "rb") as fh:
            if any(b'"invoke"' in line for line in fh):
                return
        time.sleep(0.1)
    raise UsageError(f"no client operation was recorded within {timeout:.0f}s of starting the load")


def _check_progress():
    """Partitions checked so far, on one line (a tty) or every 25% (a log)."""
    tty = sys.stderr.isatty()
    shown = [-1]

    def report(done: int, total: int) -> None:
        quarter = 4 * done // max(total, 1)
        if tty:
            print(f"\r[splitbrain] checking: {done}/{total} partitions", end="\n" if done == total else "",
                  file=sys.stderr, flush=True)
        elif quarter > shown[0]:
            shown[0] = quarter
            print(f"[splitbrain] checking: {done}/{total} partitions", file=sys.stderr, flush=True)
    return report


def load_stopped(proc: subprocess.Popen | None) -> bool:
    return proc is None or proc.poll() is not None


def _stop_load(proc: subprocess.Popen, grace: float = 15.0) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGINT)  # Locust stops users and flushes the recorder
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _final_summary(run: pathlib.Path, cluster: Cluster) -> None:
    """Numbers only the live cluster has (reference-kv: its Regions), merged into summary.json by evaluate."""
    fn = getattr(cluster.system, "final_summary", None)
    extra = fn({n: cluster.addresses[n].client for n in cluster.ids}) if fn else None
    if extra:
        rundir.write_json(run / "extra-summary.json", extra)


def _final_read(run: pathlib.Path, cluster: Cluster, cfg: RunConfig) -> None:
    from splitbrain import finalread

    result = finalread.run(run, cluster, cfg, _say, client_spec(cluster, run))
    if result.get("note"):
        _say(result["note"])


def execute(cfg: RunConfig) -> int:
    """`splitbrain run`: one run, its short summary on stdout, the exit status of its verdict."""
    from splitbrain.summary_text import exit_code, short

    run, summary, interrupted = run_campaign(cfg)
    print(short(run, summary))
    return 128 + interrupted if interrupted else exit_code(summary)


def _backend_options(cfg: RunConfig) -> dict:
    from nemesis import backends

    from splitbrain.faultplan import backend_options

    accepted = backends.option_names(backends.backend_class(cfg.backend))
    return {**backend_options(cfg.nemesis, accepted), **cfg.backend_options}


def _require_reachable(endpoints, timeout: float = 2.0) -> None:
    """An external cluster nobody answers for is bad input, not a run; one node
    down is a state worth testing, so it is only reported."""
    import socket

    down = []
    for ep in endpoints:
        host, _, port = ep.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=timeout).close()
        except ValueError:
            raise UsageError(f"endpoint {ep!r}: expected host:port") from None
        except OSError as e:
            down.append(f"{ep} ({e.strerror or e})")
    if len(down) == len(endpoints):
        raise UsageError(f"endpoint {down[0].replace(' (', ' is unreachable (', 1)}")
    for d in down:
        _say(f"endpoint {d} does not answer; running against the others")


def preflight(cfg: RunConfig):
    """What can be refused before anything is created: the system's options,
    whether it runs on this backend, the backend's option names."""
    from nemesis import backends

    system = systems.create(cfg.system, cfg.system_options())
    if cfg.endpoints:
        _require_reachable(cfg.endpoints)
        return system
    why_not = getattr(system, "unsupported_backends", {}).get(cfg.backend)
    if why_not:
        raise UsageError(f"{system.name} cannot run on the {cfg.backend} backend: {why_not}")
    unknown = sorted(set(cfg.backend_options) - backends.option_names(backends.backend_class(cfg.backend)))
    if unknown:
        raise UsageError(f"the {cfg.backend} backend has no option {unknown[0]} (options: "
                         f"{', '.join(sorted(backends.option_names(backends.backend_class(cfg.backend))))})")
    return system


@dataclasses.dataclass
class Prepared:
    """A run every check has passed; nothing of it exists yet."""

    run: pathlib.Path  # its run directory, to be created
    cluster: Cluster  # made, not started
    packages: list  # the fault packages it runs, as the fault registry offers them here
    refused: list  # (name, what it lacks) of the members of a --nemesis family this backend or system cannot run


def prepare(cfg: RunConfig, strict_faults: bool = True) -> Prepared:
    """Every refusal a run can meet before it starts anything, in one place: the options
    (`preflight`), the backend (made: its engine answers, its hosts are given, its tools are
    here), the node count (the backend's maximum), the system's program, and every fault in
    --nemesis (the fault registry says whether it exists and whether this backend and system
    can run it; with `strict_faults` off, those it cannot run are only listed in `refused`). Nothing
    is created, started or moved (not even `results/latest`)."""
    from splitbrain import faultplan

    out = pathlib.Path(cfg.out)
    rundir.check_out(out)
    label = pathlib.Path(cfg.system).stem if systems.is_file(cfg.system) else cfg.system
    run = rundir.fresh(out, f"{label}-{cfg.workload}")
    cluster = ExternalCluster(cfg, run) if cfg.endpoints else Cluster(cfg, run)
    packages, refused = [], []
    if cfg.nemesis:
        try:
            packages, refused = faultplan.packages(
                cfg.nemesis, cluster.fault_context(),
                allow_link_faults=cluster.system.per_link_dial or cfg.backend != "local",
                why_no_links=f"a backend that cuts links with iptables ({cluster.system.name} peers cannot sit "
                             f"behind the local backend's per-link proxies)", strict=strict_faults,
                why_no_clock=cluster.system.clock_faults_unreachable)
        except UsageError:
            cluster.close()
            raise
    return Prepared(run, cluster, packages, refused)


def run_campaign(cfg: RunConfig) -> tuple[pathlib.Path, dict, int]:
    """One run; returns (run directory, summary, the signal that interrupted it or 0)."""
    from splitbrain.signals import stop_on_signals

    plan = prepare(cfg)
    with stop_on_signals(_say) as stop:
        while not rundir.claim(plan.run):  # another run took that name meanwhile: the same checks, the next name
            plan.cluster.close()
            plan = prepare(cfg)
        return _run(cfg, plan, stop)


def _run(cfg: RunConfig, plan: Prepared, stop) -> tuple[pathlib.Path, dict, int]:
    from nemesis.history import HistoryWriter
    from nemesis.schedule import Schedule

    from splitbrain import leftovers
    from splitbrain.evaluate import evaluate

    run, cluster, pkgs = plan.run, plan.cluster, plan.packages
    rundir.write_json(run / rundir.CONFIG, cfg.to_json())
    _say(f"run directory {run}")
    # before the backend makes anything: what a SIGKILL would leave, for `splitbrain cleanup`
    remote = getattr(getattr(cluster, "backend", None), "leftovers", dict)  # where an ssh backend makes things
    record = leftovers.Record(run, cluster.run_id, cfg.backend).write(**remote())
    history = run / rundir.HISTORY
    history.touch()
    load = monitor = sched = None
    interrupted = False
    torn_down = False
    try:
        if cfg.endpoints:
            _say(f"external {cluster.system.name} cluster at {', '.join(cfg.endpoints)} (no faults)")
        else:
            _say(f"starting {cfg.nodes} {cluster.system.name} nodes on the {cfg.backend} backend")
        for name, missing in plan.refused:
            _say(f"fault {name} skipped: needs {', '.join(missing)}")
        cluster.start()
        record.write(**remote())  # what only the setup knew (the hosts' directories)
        if cluster.system.has_leader:
            _say(f"leader elected: node {cluster.leader()}")
        ctx = cluster.fault_context() if pkgs else None
        monitor = Monitor(cluster.ids, lambda n, t: cluster.status(n, t), run / rundir.STATUS,
                          **({"period_s": period} if (period := getattr(cluster.system, "probe_period", None))
                             else {})).start()
        load = _load_process(cfg, run, cluster)
        _wait_for_first_operation(load, history)
        if pkgs:
            sched = Schedule(ctx, pkgs, HistoryWriter(history), seed=cfg.seed,
                             duration=max(0.0, cfg.time - cfg.quiet), interval=cfg.nemesis_interval,
                             fault_duration=cfg.fault_duration, quiet=0, mode=cfg.nemesis_mode).start()
            _say(f"nemesis: {len(sched.steps) // 2} faults planned ({cfg.nemesis_mode}) from "
                 f"{', '.join(p.name for p in pkgs)}")
        deadline = time.monotonic() + cfg.time + 30
        while load.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        if load.poll() is None:
            _say("load did not finish on time; stopping it")
    except KeyboardInterrupt as e:
        interrupted = True
        stop.signum = stop.signum or getattr(e, "signum", signal.SIGINT)
        _say(f"interrupted ({signal.Signals(stop.signum).name}): healing, resuming paused nodes, stopping and "
             f"writing what was recorded")
    finally:
        stop.stopping()
        for step, fn in (("nemesis", lambda: sched and sched.stop()),
                         ("load", lambda: load and _stop_load(load)),
                         ("final read", lambda: cluster and not interrupted and _final_read(run, cluster, cfg)),
                         ("monitor", lambda: monitor and monitor.stop()),
                         ("final summary", lambda: cluster and _final_summary(run, cluster)),
                         ("cluster", lambda: cluster and cluster.stop(run / "nodes"))):
            try:
                fn()
                torn_down = torn_down or step == "cluster"
            except KeyboardInterrupt:
                interrupted = True
            except Exception as e:  # noqa: BLE001 - keep tearing down
                _say(f"stopping {step} failed: {e}")
        if torn_down and load_stopped(load):
            record.remove()
        else:
            _say(f"the run may have left processes or mounts behind: `splitbrain cleanup {run}` removes them")
    _say("checking the history")
    summary = evaluate(run, timeout=cfg.check_timeout, progress=_check_progress())
    return run, summary, stop.signum
