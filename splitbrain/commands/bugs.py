"""`splitbrain bugs`: list the catalogue of planted bugs and the campaigns that find them."""
from __future__ import annotations

HELP = "list the planted bugs of the reference KV and the campaign that finds each (splitbrain hunt BUG)"


def add_arguments(p):
    p.add_argument("--json", action="store_true", help="a JSON list of {name, description, campaign}")


def _nemesis(c) -> str:
    return ",".join(c.overrides.get("nemesis", ())) or "none"


def run(args) -> int:
    import json

    from splitbrain.bugs import CATALOGUE

    if args.json:
        print(json.dumps([b.as_dict() for b in CATALOGUE], indent=2))
        return 0
    width = max(len(b.name) for b in CATALOGUE)
    for b in CATALOGUE:
        c = b.campaign
        knobs = " ".join(f"{k}={v}" for k, v in c.overrides.items()
                         if k not in ("nemesis", "time", "quiet", "workload"))
        print(f"{b.name:<{width}}  {b.description}")
        print(f"{'':<{width}}  campaign: {c.overrides.get('workload')} workload, nemesis {_nemesis(c)}, "
              f"{c.overrides.get('time'):g}s per attempt, {knobs}; up to {c.attempts} attempts in {c.budget:g}s")
    print("\nrun one: splitbrain hunt NAME [--safe]")
    return 0
