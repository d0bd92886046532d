"""`python -m reference_kv`: run one node of the reference KV.

Bad input is one line on stderr and exit status 2; a data directory that
cannot be opened is one line and exit status 1; SIGTERM stops cleanly, exit 0.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reference_kv.discovery import expand_argv
from reference_kv.node import UNSAFE_BUGS
from reference_kv import process
from reference_kv import readmodes
from reference_kv.readmodes import READ_MODES


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(2, f"reference_kv: error: {message}\n")


def _hostport(s: str) -> str:
    from reference_kv.transport import split_hostport
    try:
        split_hostport(s)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return s


def _id_map(s: str) -> dict[int, str]:
    out = {}
    for item in filter(None, s.split(",")):
        nid, sep, addr = item.partition("=")
        if not sep or not nid.strip().isdigit() or int(nid) < 1:
            raise argparse.ArgumentTypeError(f"bad entry {item!r}: expected ID=HOST:PORT with ID >= 1")
        out[int(nid)] = _hostport(addr.strip())
    return out


def _peer_tls(s: str):
    from reference_kv.tls import PeerTLS
    try:
        tls = PeerTLS.from_dir(s)
        tls.server_context()
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return tls


def _admin_address(s: str) -> str:
    """[HOST:]PORT; a bare port is on loopback, so the admin API is reachable from elsewhere only when asked."""
    s = s.strip()
    return _hostport(f"127.0.0.1:{s}" if s.isdigit() else s)


def admin_options(args) -> dict:
    """Server keywords for the admin API: its address and token; ValueError (one line) when they do not fit."""
    from reference_kv import admintoken
    from reference_kv.transport import split_hostport
    token = admintoken.load(args.admin_token_file)
    if args.admin_listen is None:
        if args.admin_token_file is not None:
            raise ValueError("--admin-token-file without --admin-listen: where should the admin API listen?")
        return {}
    if token is None:
        raise ValueError(f"--admin-listen needs the admin token: --admin-token-file FILE or ${admintoken.TOKEN_ENV}")
    if split_hostport(args.admin_listen) == split_hostport(args.listen):
        raise ValueError("--admin-listen must differ from --listen (the admin API has its own port)")
    return {"admin_listen": split_hostport(args.admin_listen), "admin_token": token}


def peer_security_error(args) -> str | None:
    """Plaintext between peers only when asked for: the peer port accepts Raft messages from whoever connects."""
    if args.peer_tls is not None and args.peer_plaintext:
        return "give --peer-tls DIR or --peer-plaintext, not both"
    if args.peer_tls is None and not args.peer_plaintext:
        return ("give --peer-tls DIR (mutual TLS with the cluster CA; see the README's Security section) "
                "or --peer-plaintext (only on a network you trust)")
    return None


def security_error(args) -> str | None:
    """The peer transport's and the admin API's settings (args.admin set for the server), or what is wrong."""
    if (err := peer_security_error(args)) is not None:
        return err
    try:
        args.admin = admin_options(args)
    except ValueError as e:
        return str(e)
    return None


def peer_transport(args, peers: dict[int, str]):
    """The peer transport a node or store process runs on: mutual TLS when --peer-tls names a directory."""
    from reference_kv.transport import Transport
    return Transport(args.peer_listen, {i: a for i, a in peers.items() if i != args.id}, tls=args.peer_tls)


def _positive(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {s!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m reference_kv", description="Run one node of the reference Raft KV.")
    p.add_argument("--id", type=_positive, required=True, help="this node's id (>= 1)")
    p.add_argument("--listen", type=_hostport, required=True, help="client HTTP API address HOST:PORT")
    p.add_argument("--peer-listen", type=_hostport, required=True, help="Raft peer address HOST:PORT")
    p.add_argument("--peer-tls", type=_peer_tls, default=None, metavar="DIR",
                   help="mutual TLS between peers: DIR holds ca.crt (the cluster CA), tls.crt and tls.key "
                        "(this node's, signed by that CA)")
    p.add_argument("--peer-plaintext", action="store_true",
                   help="peer traffic without TLS: anyone who reaches the peer port is taken for a member; "
                        "only on a network you trust (loopback, a test's own namespaces)")
    p.add_argument("--admin-listen", type=_admin_address, default=None, metavar="[HOST:]PORT",
                   help="serve the admin API (membership, leader transfer) here; a bare PORT is on 127.0.0.1. "
                        "Without it the node has no admin API")
    p.add_argument("--admin-token-file", default=None, metavar="FILE",
                   help="the admin API's bearer token (first line of FILE, at least 16 characters; default: "
                        "the environment variable REFERENCE_KV_ADMIN_TOKEN)")
    p.add_argument("--peers", type=_id_map, default={},
                   help="ID=HOST:PORT,... every initial voter (itself included) as this node dials it")
    p.add_argument("--peer-clients", type=_id_map, default={},
                   help="ID=HOST:PORT,... each node's client API address, for not-leader hints")
    p.add_argument("--data-dir", required=True, help="directory for this node's data (created if absent)")
    p.add_argument("--read-mode", choices=READ_MODES, default=readmodes.DEFAULT,
                   help="default read mode; local-unsafe is UNSAFE (stale reads, to prove the checker)")
    p.add_argument("--snapshot-every", type=_positive, default=10000, help="snapshot every N applied entries")
    p.add_argument("--tick-ms", type=_positive, default=10, help="Raft tick interval in milliseconds")
    p.add_argument("--election-ticks", type=_positive, default=10, help="election timeout in ticks")
    p.add_argument("--heartbeat-ticks", type=_positive, default=1, help="heartbeat interval in ticks")
    p.add_argument("--storage", choices=("pebble", "memory"), default=None,
                   help="pebble (default when built) or memory (volatile, tests only)")
    p.add_argument("--join", action="store_true", help="start empty and wait to be added as a learner")
    p.add_argument("--unsafe-bug", default=None, choices=UNSAFE_BUGS, metavar="NAME",
                   help=f"UNSAFE: enable a planted bug ({', '.join(UNSAFE_BUGS)})")
    p.add_argument("--request-timeout", type=float, default=3.0, help="seconds before a client request gets 504")
    p.add_argument("--max-value-bytes", type=_positive, default=1 << 20, help="largest accepted value (413 above)")
    p.add_argument("--event-loop", choices=("auto", "uvloop", "asyncio"), default="auto",
                   help="auto: uvloop when installed and the clock is not faked by libfaketime, else asyncio")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    return p


def storage_opener(kind: str | None):
    """-> (kind, open(path, from_checkpoint) -> Storage). Pebble unless told otherwise.

    Memory storage is volatile: a restart starts empty; only an installed
    snapshot (a checkpoint directory) is opened from disk.
    """
    if kind in (None, "pebble"):
        from reference_kv.storage.pebble import PebbleDB
        return "pebble", lambda path, from_checkpoint=False: PebbleDB(str(path))
    from reference_kv.storage.memory import MemoryStorage

    def open_memory(path, from_checkpoint=False):
        return MemoryStorage.open(path) if from_checkpoint else MemoryStorage()
    return "memory", open_memory


async def _serve(args) -> int:
    from reference_kv.node import Node, NodeConfig
    from reference_kv.server import Server
    from reference_kv.transport import split_hostport

    kind, opener = storage_opener(args.storage)
    cfg = NodeConfig(
        id=args.id, data_dir=Path(args.data_dir), peers=args.peers, peer_clients=args.peer_clients,
        read_mode=args.read_mode, snapshot_every=args.snapshot_every, tick_ms=args.tick_ms,
        election_ticks=args.election_ticks, heartbeat_ticks=args.heartbeat_ticks, join=args.join,
        unsafe_bug=args.unsafe_bug, request_timeout=args.request_timeout,
        peer_address=args.peers.get(args.id) or args.peer_listen,
    )
    node = Node(cfg, opener, peer_transport(args, args.peers))
    host, port = split_hostport(args.listen)
    server = Server(node, host, port, max_value_bytes=args.max_value_bytes, **args.admin)
    return await process.serve("reference_kv", f"node {args.id}", node, server,
                               f"node {args.id} serving clients on {args.listen} ({kind} storage, reads "
                               f"{args.read_mode}), admin API {'on ' + args.admin_listen if args.admin else 'off'}")


def main(argv=None) -> int:
    # `--peers-dns SVC --replicas N` (Kubernetes) becomes --id/--peers/--peer-clients here.
    argv = expand_argv(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.peers and args.id not in args.peers and not args.join:
        print(f"reference_kv: error: --peers must include this node ({args.id})", file=sys.stderr)
        return 2
    if not args.peers and not args.join:
        print("reference_kv: error: give --peers (initial voters) or --join", file=sys.stderr)
        return 2
    if (err := security_error(args)) is not None:
        print(f"reference_kv: error: {err}", file=sys.stderr)
        return 2
    return process.run("reference_kv", "node", args, _serve)


if __name__ == "__main__":
    sys.exit(main())
