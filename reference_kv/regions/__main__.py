"""`python -m reference_kv.regions`: one store of the multi-Raft (Region) KV.

Same flags as `python -m reference_kv`, plus `--region-split-size` (256KiB,
1MiB, 64MiB, ...; default 64MiB) and `--region-merge-size` (default 1/8 of
the split size, 0 = off). `--heartbeat-ticks` defaults to 3 here
(many groups heartbeat at once). `--join` starts a store that hosts nothing
until it is added (see membership.py). `--snapshot-every N`: a Region's log is compacted once N entries
were applied past its last compaction, up to what every voter holds, or past
a voter lagging by N or more (it gets a Region snapshot).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reference_kv import process
from reference_kv.__main__ import build_parser, peer_transport, security_error, storage_opener
from reference_kv.discovery import expand_argv


def _size(s: str) -> int:
    from reference_kv.regions.region import parse_size
    try:
        return parse_size(s)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _merge_size(s: str) -> int:
    return 0 if s.strip() == "0" else _size(s)


def parser() -> argparse.ArgumentParser:
    p = build_parser()
    p.prog = "python -m reference_kv.regions"
    p.description = "Run one store of the multi-Raft (Region) reference KV."
    p.add_argument("--region-split-size", type=_size, default=64 << 20, metavar="SIZE",
                   help="split a Region above this size (256KiB, 1MiB, 64MiB; default 64MiB)")
    p.add_argument("--region-merge-size", type=_merge_size, default=None, metavar="SIZE",
                   help="merge adjacent Regions both below this size (default: 1/8 of the split size; 0 = off)")
    p.add_argument("--region-hot-qps", type=float, default=0.0, metavar="N",
                   help="a Region serving N requests/s or more splits at a quarter of the split size (0 = off)")
    p.add_argument("--no-leader-balance", action="store_true", help="do not spread Region leaders over nodes")
    p.add_argument("--seed", type=int, default=None, help=argparse.SUPPRESS)
    # Every Region leader heartbeats its followers: one per tick from each of many
    # groups costs more CPU than a node has; every 3rd tick still leaves the
    # election timeout (10 ticks) three heartbeats deep.
    p.set_defaults(heartbeat_ticks=3)
    return p


async def _serve(args) -> int:
    from reference_kv.regions.http import RegionServer
    from reference_kv.regions.store import Store, StoreConfig
    from reference_kv.transport import split_hostport

    kind, opener = storage_opener(args.storage)
    cfg = StoreConfig(
        id=args.id, data_dir=Path(args.data_dir), peers=args.peers, peer_clients=args.peer_clients,
        read_mode=args.read_mode, snapshot_every=args.snapshot_every, tick_ms=args.tick_ms,
        election_ticks=args.election_ticks,
        heartbeat_ticks=args.heartbeat_ticks, unsafe_bug=args.unsafe_bug,
        request_timeout=args.request_timeout, seed=args.seed, split_size=args.region_split_size, join=args.join,
        peer_address=args.peers.get(args.id) or args.peer_listen,
        hot_qps=args.region_hot_qps, merge_size=args.region_merge_size, balance_s=0.0 if args.no_leader_balance else 1.0,
    )
    store = Store(cfg, opener, peer_transport(args, args.peers))
    host, port = split_hostport(args.listen)
    server = RegionServer(store, host, port, max_value_bytes=args.max_value_bytes, **args.admin)
    return await process.serve(
        "reference_kv.regions", f"store {args.id}", store, server,
        f"store {args.id} serving clients on {args.listen} ({kind} storage, split at {args.region_split_size} bytes)")


def main(argv=None) -> int:
    argv = expand_argv(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    if args.id not in args.peers and not args.join:
        print(f"reference_kv.regions: error: --peers must include this node ({args.id})", file=sys.stderr)
        return 2
    if (err := security_error(args)) is not None:
        print(f"reference_kv.regions: error: {err}", file=sys.stderr)
        return 2
    return process.run("reference_kv.regions", "store", args, _serve)


if __name__ == "__main__":
    sys.exit(main())
