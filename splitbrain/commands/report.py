"""`splitbrain report RUN_DIR`: rebuild summary, verdict and report from a run's files."""
from __future__ import annotations

HELP = ("rebuild summary.json, report.html and the verdict from a run directory (also of a killed run), or the "
        "index of an explore directory")


def add_arguments(p):
    from checker.models import MODELS
    from splitbrain import values

    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (e.g. results/latest) or an explore directory")
    p.add_argument("--model", choices=list(MODELS), help="checker model (default: from the history)")
    p.add_argument("--timeout", type=values.SECONDS.arg, default=None, metavar="S", help="checker time limit")
    p.add_argument("--json", action="store_true", help="print summary.json instead of the short form")


def run(args) -> int:
    import json

    from splitbrain import rundir
    from splitbrain.evaluate import evaluate
    from splitbrain.summary_text import exit_code, short

    import pathlib

    from splitbrain import explore

    if explore.is_explore_dir(pathlib.Path(args.run_dir)):
        rows = explore.write_index(pathlib.Path(args.run_dir))
        print((pathlib.Path(args.run_dir) / explore.INDEX_TEXT).read_text(), end="")
        return 1 if any(r.get("valid") is False for r in rows if r.get("role") == "explore") else 0
    from splitbrain.commands.check import Progress

    run_dir = rundir.resolve(args.run_dir)
    progress = Progress(str(run_dir / rundir.HISTORY))  # a long check shows how far it got
    try:
        summary = evaluate(run_dir, model=args.model, timeout=args.timeout, progress=progress)
    finally:
        progress.end()
    print(json.dumps(summary, indent=2, default=str) if args.json else short(run_dir, summary))
    return exit_code(summary)
