"""The `splitbrain` command: a thin dispatcher over `splitbrain.commands.*`.

Each subcommand is a module with `HELP` (one line), `add_arguments(parser)` and
`run(args) -> int`. Modules keep heavy imports inside `run` so that
`splitbrain --help` and argument errors stay instant.
"""
from __future__ import annotations

import argparse
import importlib
import signal
import sys

from splitbrain.errors import UsageError

# name -> module; the order is the order of `splitbrain --help`.
COMMANDS = {
    "demo": "splitbrain.commands.demo",
    "run": "splitbrain.commands.run",
    "check": "splitbrain.commands.check",
    "report": "splitbrain.commands.report",
    "claims": "splitbrain.commands.claims",
    "cluster": "splitbrain.commands.cluster",
    "bugs": "splitbrain.commands.bugs",
    "hunt": "splitbrain.commands.hunt",
    "explore": "splitbrain.commands.explore",
    "simulate": "splitbrain.commands.simulate",
    "cleanup": "splitbrain.commands.cleanup",
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2."""

    def error(self, message: str):  # noqa: D401 - argparse's name
        self.exit(2, f"{self.prog}: error: {message}\n")


def _available():
    for name, modname in COMMANDS.items():
        try:
            yield name, importlib.import_module(modname)
        except ModuleNotFoundError as e:
            if e.name != modname:
                raise


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="splitbrain", description="Jepsen-style verification and benchmarks of "
                     "replicated stores: linearizability under faults, throughput, latency, elections.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, mod in _available():
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, or a usage error already printed as one line: a status, for callers too
        return int(e.code or 0) if not isinstance(e.code, str) else 2
    try:
        return int(args._run(args) or 0)
    except UsageError as e:
        print(f"splitbrain {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        signum = getattr(e, "signum", signal.SIGINT)
        print(f"splitbrain {args.command}: interrupted ({signal.Signals(signum).name})", file=sys.stderr)
        return 128 + signum


if __name__ == "__main__":
    sys.exit(main())
