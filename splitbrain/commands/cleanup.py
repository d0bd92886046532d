"""`splitbrain cleanup [RUN_DIR ...]`: remove what killed runs left behind."""
from __future__ import annotations

HELP = ("remove what runs killed by SIGKILL left behind (nodes, proxies, FUSE mounts, paused processes, "
        "namespaces, containers, iptables rules, socket directories), from the record each run keeps")

EPILOG = """Every run records, before it starts anything, what a SIGKILL would leave: its run id
(which every process, namespace, rule, container and socket directory it makes bears), its
backend and its run directory. The record is kept in the run directory (resources.json) and
in $XDG_STATE_HOME/splitbrain/runs (default ~/.local/state/splitbrain/runs), and removed when
the run's own teardown succeeds. Without RUN_DIR, every recorded run whose suite process is
gone is cleaned; a run still running is left alone (stop it with SIGTERM: it cleans up
itself). Exit status 0 when nothing is left, 1 when something could not be removed, 2 for
bad input."""


def add_arguments(p) -> None:
    import argparse

    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("runs", nargs="*", metavar="RUN_DIR", help="run directories (default: every recorded dead run)")
    p.add_argument("--dry-run", action="store_true", help="say what would be cleaned, remove nothing")


def run(args) -> int:
    import pathlib

    from nemesis import sweep
    from splitbrain import leftovers
    from splitbrain.errors import UsageError

    if args.runs:
        todo = []
        for arg in args.runs:
            run_dir = pathlib.Path(arg)
            if not run_dir.is_dir():
                raise UsageError(f"{arg}: not a directory")
            rec = leftovers.load(run_dir / leftovers.RECORD)
            if rec is None:
                print(f"{arg}: no record of what the run made (it ended by itself, or is not a run directory)")
                continue
            todo.append((run_dir / leftovers.RECORD, rec))
    else:
        todo = leftovers.recorded()
        if not todo:
            print(f"no recorded run left anything (records: {leftovers.index_dir()})")
    failed = False
    for _, rec in todo:
        name = rec.get("run", rec["run_id"])
        if leftovers.owner_alive(rec):
            print(f"{name}: still running (pid {rec.get('pid')}); `kill -TERM {rec.get('pid')}` stops it cleanly")
            continue
        if args.dry_run:
            print(f"{name}: would clean run {rec['run_id']} ({rec.get('backend')} backend)")
            continue
        done = leftovers.clean(rec)
        what = ", ".join(f"{len(v)} {k}" for k, v in done.items() if v) or "nothing was left"
        left = sweep.processes(rec["run_id"])
        if left:
            failed = True
            print(f"{name}: cleaned {what}; processes {', '.join(map(str, left))} would not go")
            continue
        print(f"{name}: cleaned {what}")
        leftovers.forget(rec)
    return 1 if failed else 0
