"""`splitbrain check`: the linearizability checker alone."""
from __future__ import annotations

import math
import re
import sys

HELP = "check histories for linearizability (exit 0 yes, 1 no, 3 unknown, 4 no operations, 2 unusable input)"

EPILOG = """exit status: 0 linearizable, 1 not linearizable, 2 unusable input (bad file, bad
option, HTML not written), 3 unknown (time or memory limit), 4 no operations (an empty
history proves nothing). With several files every file is reported, then the worst
status is returned, worst first: 1, 2, 3, 4, 0.

formats: jsonl (DESIGN.md's events); jepsen-edn (Jepsen's history.edn, as Jepsen means
it: :fail did not happen whatever f is, :info is indeterminate, a nil read is unknown,
[k v] values split per key, and without a usable :time the order of events is the
clock, shown as "event #n"); jepsen-log (only the etcd logs of the Porcupine corpus,
read the etcd way: ":fail :cas" is a cas whose comparison failed, ":fail :read
:timed-out" is indeterminate; for other Jepsen histories use jepsen-edn); porcupine-kv
(Porcupine's kv logs).

Partitions whose writes are unique values are decided by ordering their values' zones
(polynomial; a bounded search only where failed cas force another order), each
"linearizable" certified by replaying its linearization; the rest by the Wing & Gong
search (--method search forces it everywhere, as a cross-check). A violation is shrunk
to a few operations and one sentence naming the reason."""

from checker.models import MODELS  # noqa: E402 - the built-in models' one table
from splitbrain.summary_text import EXIT, SEVERITY  # noqa: E402 - one table for every command with a verdict
_UNSET = object()  # --initial-value not given (null is a value)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.I)


def size(text: str) -> int:
    """A byte count such as 512M, 4G, 4GiB (argparse type)."""
    import argparse

    m = _SIZE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size (e.g. 512M, 4G): {text!r}")
    v = float(m.group(1)) * {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[m.group(2).lower()]
    if not math.isfinite(v) or v < 64 * 2**20:
        raise argparse.ArgumentTypeError(f"must be at least 64M (got {text})")
    return int(v)


def initial_value(text: str):
    """--initial-value: JSON when it parses, else the text itself (argparse type)."""
    import json

    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


def default_max_memory() -> int:
    """A quarter of the machine's memory: well under what the kernel would kill at."""
    try:
        with open("/proc/meminfo") as fh:
            total = next(int(l.split()[1]) * 1024 for l in fh if l.startswith("MemTotal"))
    except (OSError, StopIteration, ValueError):
        total = 8 * 2**30
    return max(256 * 2**20, total // 4)


def add_arguments(parser) -> None:
    import argparse

    from splitbrain import values

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("files", nargs="+", metavar="FILE", help="history files")
    parser.add_argument("--model", default="cas-register", choices=list(MODELS),
                        help="sequential model of one key (default cas-register)")
    parser.add_argument("--format", default="jsonl", choices=["jsonl", "jepsen-edn", "jepsen-log", "porcupine-kv"],
                        help="history format (default jsonl, DESIGN.md; see below)")
    parser.add_argument("--initial-value", type=initial_value, metavar="V", default=_UNSET,
                        help="the built-in model's initial value, as JSON (0, null, \"x\"; other text is a "
                             "string); default absent (cas-register) or \"\" (kv)")
    parser.add_argument("--method", default="auto", choices=["auto", "search"],
                        help="auto: unique-value partitions in polynomial time, the rest by search (default); "
                             "search: the Wing & Gong search everywhere")
    parser.add_argument("--timeout", type=values.SECONDS.arg, metavar="S",
                        help="give up after S seconds per file with verdict unknown")
    parser.add_argument("--max-memory", type=size, metavar="SIZE",
                        help="bound the checker's memory (default a quarter of RAM); past it the verdict is "
                             "unknown with what was proven, never an out-of-memory kill")
    parser.add_argument("--html", metavar="FILE", help="write an HTML visualization (one per input: FILE-<name>.html)")
    parser.add_argument("--json", action="store_true", help="one JSON object per input file per line")


class Progress:
    """A progress line on stderr when it is a terminal or checking is slow (also `report`'s)."""

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


def _limit_memory(limit: int) -> None:
    """The process-wide backstop under the checker's own accounting: past it an
    allocation fails (MemoryError, turned into unknown), the kernel kills nothing."""
    import resource

    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    except (ValueError, OSError):
        pass


def _error(path: str, message: str) -> None:
    print(f"splitbrain check: error: {message}", file=sys.stderr, flush=True)


def check_one(path, args, max_memory):
    """(exit status, printed) for one file; bad input is one line on stderr and 2."""
    import json

    import checker
    from checker import report
    from checker.history import pair_file

    try:
        # JSONL, the format runs write, is read a block at a time straight into operations (a fraction of the
        # memory of its parsed events); the importers' formats are small files from other tools
        history = pair_file(path) if args.format == "jsonl" else checker.load(path, args.format)
        progress = Progress(path)
        try:
            extra = {} if args.initial_value is _UNSET else {"initial": args.initial_value}
            result = checker.check(history, args.model, timeout=args.timeout, progress=progress,
                                   max_memory=max_memory, method=args.method, **extra)
        finally:
            progress.end()
    except (checker.HistoryError, checker.CompiledMissing, ValueError) as e:
        _error(path, str(e))
        return 2
    except MemoryError:
        result = checker.core.Result(checker.UNKNOWN, source=str(path))
        result.note = "memory limit reached before any partition was proven (--max-memory)"
    torn = getattr(history, "torn", None) if "history" in locals() else None
    if args.json:
        print(json.dumps(report.as_json(result, path, torn)), flush=True)
    else:
        print(report.text(result, path, torn), flush=True)
    code = EXIT.get(result.valid, 3)
    if args.html:
        target = _html_path(args.html, path, len(args.files) > 1)
        try:
            checker.write_html(result, target)
        except OSError as e:
            _error(path, f"cannot write {target}: {e.strerror or e} (the verdict above stands)")
            code = worst([code, 2])
    return code


def worst(codes) -> int:
    return min(codes, key=SEVERITY.index) if codes else 0


def run(args) -> int:
    max_memory = args.max_memory or default_max_memory()
    _limit_memory(max_memory)
    return worst([check_one(path, args, max_memory) for path in args.files])
