"""`splitbrain cluster up|down|status|remove|rejoin`: a local reference-KV cluster of real processes on loopback."""
from __future__ import annotations

HELP = "start, stop or inspect a local reference-KV cluster (processes on 127.0.0.1)"
DEFAULT_DIR = "results/cluster"
MAX_NODES = 15  # loopback processes on one machine, each a Raft voter


def add_arguments(parser) -> None:
    from splitbrain import values

    parser.add_argument("action", choices=("up", "down", "status", "remove", "rejoin"),
                        help="up: start the nodes not running (creating the cluster if new); "
                             "down: stop them; status: one line (or JSON object) per node; "
                             "remove NODE: take it out of the configuration; rejoin NODE: the way back for a "
                             "member that lost its data (remove, start it empty with --join, add it as a learner, "
                             "promote it once caught up)")
    parser.add_argument("node", nargs="?", type=int, help="the node id for remove and rejoin")
    parser.add_argument("--nodes", type=values.count(1, MAX_NODES).arg, default=3, help="cluster size when creating it (default 3)")
    parser.add_argument("--dir", default=DEFAULT_DIR, help=f"cluster directory (default {DEFAULT_DIR})")
    parser.add_argument("--json", action="store_true", help="print status as a JSON list")
    from reference_kv.server import READ_MODES

    parser.add_argument("--read-mode", default=None, choices=READ_MODES,
                        help="node default read mode for a new cluster (local-unsafe is UNSAFE)")
    parser.add_argument("--storage", choices=("pebble", "memory"), default=None,
                        help="storage for a new cluster (default pebble)")
    parser.add_argument("--snapshot-every", type=values.COUNT.arg, default=None, help="snapshot interval for a new cluster")


def run(args) -> int:
    import json
    from pathlib import Path

    from reference_kv import cluster
    from splitbrain.errors import UsageError

    root = Path(args.dir)
    if root.exists() and not root.is_dir():
        raise UsageError(f"--dir {root} is not a directory")
    try:
        cfg = cluster.load_config(root)
    except ValueError as e:
        raise UsageError(str(e)) from None

    if args.action == "up":
        try:
            cfg, started = cluster.up(root, args.nodes, read_mode=args.read_mode, storage=args.storage,
                                      snapshot_every=args.snapshot_every)
        except RuntimeError as e:
            raise UsageError(str(e)) from None
        rows = cluster.status(root, cfg)
        if args.json:
            print(json.dumps(rows))
        else:
            print(f"cluster in {root}: started {len(started)} node(s) {started or ''}".rstrip())
            _print_rows(rows)
        return 0
    if cfg is None:
        if args.action == "status" and args.json:
            print("[]")
            return 0
        raise UsageError(f"no cluster in {root} (run `splitbrain cluster up --dir {root}` first)")
    if args.action in ("remove", "rejoin"):
        if args.node is None:
            raise UsageError(f"cluster {args.action} needs a node id (e.g. `splitbrain cluster {args.action} 3`)")
        try:
            (cluster.remove if args.action == "remove" else cluster.rejoin)(root, cfg, args.node)
        except (ValueError, RuntimeError) as e:
            raise UsageError(str(e)) from None
        return 0
    if args.action == "down":
        stopped = cluster.down(root, cfg)
        print(json.dumps({"stopped": stopped}) if args.json else f"stopped {len(stopped)} node(s) {stopped or ''}".rstrip())
        return 0
    rows = cluster.status(root, cfg)
    if args.json:
        print(json.dumps(rows))
    else:
        _print_rows(rows)
    return 0


def _print_rows(rows) -> None:
    print(f"{'id':>3} {'pid':>8} {'address':<22} {'role':<10} {'term':>5}")
    for r in rows:
        print(f"{r['id']:>3} {r['pid'] or '-':>8} {r['address']:<22} {r['role']:<10} {r['term'] if r['term'] is not None else '-':>5}")
