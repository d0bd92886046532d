"""`splitbrain check`: the linearizability checker alone."""
from __future__ import annotations

import sys

HELP = "check histories for linearizability (exit 0 yes, 1 no, 3 unknown, 2 unusable input)"


def add_arguments(parser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="history files")
    parser.add_argument("--model", default="cas-register", choices=["cas-register", "kv"],
                        help="sequential model of one key (default cas-register)")
    parser.add_argument("--format", default="jsonl", choices=["jsonl", "jepsen-log", "porcupine-kv"],
                        help="history format (default jsonl, DESIGN.md)")
    parser.add_argument("--timeout", type=float, metavar="S",
                        help="give up after S seconds per file with verdict unknown")
    parser.add_argument("--html", metavar="FILE", help="write an HTML visualization (one per input: FILE-<name>.html)")
    parser.add_argument("--json", action="store_true", help="one JSON object per input file per line")


class _Progress:
    """A progress line on stderr when it is a terminal or checking is slow."""

    def __init__(self, name):
        import time

        self.name, self.clock, self.t0, self.shown = name, time.monotonic, time.monotonic(), False

    def __call__(self, done, total):
        if sys.stderr.isatty() or self.clock() - self.t0 > 1.0:
            self.shown = True
            print(f"\r{self.name}: {done}/{total} partitions checked, {self.clock() - self.t0:.1f} s",
                  end="", file=sys.stderr, flush=True)

    def end(self):
        if self.shown:
            print(file=sys.stderr, flush=True)


def _html_path(base: str, src: str, many: bool) -> str:
    if not many:
        return base
    import pathlib

    b = pathlib.Path(base)
    return str(b.with_name(f"{b.stem}-{pathlib.Path(src).stem}{b.suffix or '.html'}"))


def run(args) -> int:
    import json

    import checker
    from checker import report
    from splitbrain.errors import UsageError

    if args.timeout is not None and args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    codes = []
    for path in args.files:
        try:
            history = checker.load(path, args.format)
            progress = _Progress(path)
            try:
                result = checker.check(history, args.model, timeout=args.timeout, progress=progress)
            finally:
                progress.end()
        except checker.HistoryError as e:
            raise UsageError(str(e)) from None
        except checker.CompiledMissing as e:
            raise UsageError(str(e)) from None
        if args.html:
            checker.write_html(result, _html_path(args.html, path, len(args.files) > 1))
        if args.json:
            print(json.dumps({"file": path, "valid": result.valid, "seconds": round(result.seconds, 6),
                              "partitions": len(result.partitions), "ops": result.ops}), flush=True)
        else:
            print(report.text(result, path), flush=True)
        codes.append(result.valid)
    if False in codes:
        return 1
    if checker.UNKNOWN in codes:
        return 3
    return 0
