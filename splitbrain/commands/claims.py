"""`splitbrain claims`: measure the claims of a Raft KV and print claim | how | measured | holds?"""
from __future__ import annotations

HELP = "measure election time, recovery, ReadIndex vs log reads, snapshots and linearizability; print the table"


def add_arguments(p):
    p.add_argument("--system", default="reference-kv", help="system under test (default reference-kv)")
    p.add_argument("--backend", default="local", help="local | netns | docker | ssh (default local)")
    p.add_argument("--quick", action="store_true", help="half-length runs (about 2 minutes in all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="results", metavar="DIR")


def run(args) -> int:
    from splitbrain.claims import markdown, run_claims
    from splitbrain.config import RunConfig

    base = RunConfig(system=args.system, backend=args.backend, seed=args.seed, out=args.out).validate()
    claims_dir, rows = run_claims(base, args.quick)
    print(markdown(rows), end="")
    print(f"written: {claims_dir}/claims.md, {claims_dir}/claims.json")
    return 0 if all(r["holds"] is not False for r in rows) else 1
