"""`splitbrain hunt BUG`: run a planted bug's campaign until the checker reports a violation."""
from __future__ import annotations

HELP = "plant a catalogued bug and run its campaign until the checker finds it (exit 0 found, 1 not)"


def add_arguments(p):
    from splitbrain import values

    p.add_argument("bug", metavar="BUG", help="a name from `splitbrain bugs`")
    p.add_argument("--attempts", type=values.count(1, 10_000).arg, default=None, help="attempts, each a new seed (default: the campaign's)")
    p.add_argument("--budget", type=values.SECONDS.arg, default=None, metavar="SECONDS",
                   help="stop starting attempts after this much wall time (default: the campaign's)")
    p.add_argument("--out", default="results", metavar="DIR", help="where run directories go (default results)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first attempt (then +1 per attempt)")
    p.add_argument("--system", default="reference-kv",
                   help="reference-kv (default), or another built-in system as the control (with --safe)")
    p.add_argument("--backend", default=None, help="backend (default: local; netns for etcd with link faults)")
    p.add_argument("--safe", action="store_true", help="the same campaign without the bug: the control")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object on the last line")


def run(args) -> int:
    import json
    import sys

    from splitbrain import bugs, systems
    from splitbrain.errors import UsageError
    from splitbrain.streams import redirected

    bug = bugs.get(args.bug)
    if args.system not in systems.names():
        raise UsageError(f"unknown --system {args.system!r} (choose from {', '.join(systems.names())})")
    if args.system != "reference-kv" and not args.safe:
        raise UsageError(f"bugs are planted in the reference KV only; run {args.system} as the control with --safe")
    what = f"{args.system} ({'safe' if args.safe else 'bug ' + bug.name + ' planted'})"

    def report(a):
        verdict = {True: "valid", False: "VIOLATION", "unknown": "unknown"}.get(a.valid, str(a.valid))
        print(f"attempt seed={a.seed}: {verdict} in {a.seconds:.1f}s ({a.run_dir})", file=sys.stderr, flush=True)

    # The load process inherits stdout and prints Locust's tables there: keep stdout for the verdict.
    with redirected(2, 1):
        result = bugs.hunt(bug, seed=args.seed, attempts=args.attempts, budget=args.budget, out=args.out,
                           system=args.system, safe=args.safe, backend=args.backend, on_attempt=report)
    n = len(result.attempts)
    if result.found:
        print(f"{bug.name}: found on {what} after {n} attempt(s), {result.seconds:.1f}s to detection "
              f"(violating run: {result.attempts[-1].run_dir})")
    else:
        print(f"{bug.name}: not found on {what} in {n} attempt(s), {result.seconds:.1f}s")
    if args.json:
        print(json.dumps({**result.as_dict(), "system": args.system, "safe": args.safe}))
    return 0 if result.found else 1
