"""The run's final read (workloads.final) against its cluster, through the load's client
spec: after the final heal and the quiet period, once the cluster is ready again or a
bounded wait has passed."""
from __future__ import annotations

import pathlib
import time

from splitbrain import rundir
from splitbrain.errors import UsageError

READY_WAIT_S = 15.0  # a cluster that never comes back is read anyway: its reads fail, which is evidence too


def healed_at(events) -> int | None:
    """When the final heal (a stop of no one fault) was written, in the history's clock."""
    t = None
    for ev in events:
        if ev.get("process") == "nemesis" and ev.get("phase") == "stop" and ev.get("fault") is None:
            t = ev.get("time")
    return t


def run(run_dir: pathlib.Path, cluster, cfg, say, spec) -> dict:
    """Reads every key with an acknowledged write; -> what workloads.final.read_all returned."""
    from checker.appender import HistoryFile
    from checker.history import load

    from workloads.clients import make_client
    from workloads.final import final_recorder, keys_to_read, read_all
    from workloads.loadevents import LoadEvents

    history = run_dir / rundir.HISTORY
    recorded = load(history)
    heal = healed_at(recorded)
    if heal is not None:  # the quiet period after the heal, if the load's end did not already give it
        wait = (heal + cfg.quiet * 1e9 - time.monotonic_ns()) / 1e9
        if wait > 0:
            time.sleep(min(wait, cfg.quiet))
    keys = keys_to_read(recorded)
    events = LoadEvents(str(run_dir / rundir.LOAD_EVENTS))
    try:
        if not keys:
            return events.write("final-read", keys=0, ok=0)
        try:
            cluster.wait_ready(READY_WAIT_S)
        except UsageError as e:
            say(f"final read: the cluster is not ready ({e}); reading anyway")
        say(f"final read of {len(keys)} keys")
        endpoints = cluster.client_endpoints()
        mode = getattr(cluster.system, "read_mode", None)
        out = HistoryFile(history)
        try:
            result = read_all(lambda start: make_client(spec, endpoints, timeout=1.0, read_mode=mode, start=start),
                              final_recorder(out), keys, say=say)
        finally:
            out.close()
        return events.write("final-read", **result)
    finally:
        events.close()
