"""`python -m reference_kv.admin`: probes and the pre-stop hook for a node.

- `status --address A`: print the node's /status (exit 1 if it does not answer).
- `ready --address A`: exit 0 if the node knows a leader (readiness probe).
- `step-down --address A [peers] [--timeout S]`: if the node leads, hand
  leadership to the most caught-up follower and wait until another node leads,
  at most S seconds (the pre-stop hook, so a rolling update never kills a leader).
  The transfer goes to the node's admin API: `--admin-address` (default
  127.0.0.1:ADMIN_PORT) with the token of `--admin-token-file` or
  $REFERENCE_KV_ADMIN_TOKEN.
  Peers come from `--peer-clients ID=HOST:PORT,...` or, as in a StatefulSet, from
  `--peers-dns DOMAIN --replicas N` (client port: the port of --address).

Bad flags: one line, exit 2. A step-down that does not finish in time: exit 1.
"""
from __future__ import annotations

import argparse
import json
import socket
import sys
import time
import urllib.error
import urllib.request

from reference_kv import admintoken, discovery
from reference_kv.launch import ADMIN_PORT

PROG = "python -m reference_kv.admin"


class AdminError(Exception):
    """The node did not do what was asked; one line for the operator."""


def http(address: str, method: str, path: str, body: dict | None = None, timeout: float = 2.0,
         token: str | None = None) -> tuple[int, dict]:
    """One request; `token` (the admin API's) is sent as a bearer token."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://{address}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json",
                                          **(admintoken.headers(token) if token else {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, payload = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, payload = e.code, e.read()
    try:
        return status, json.loads(payload or b"{}")
    except ValueError:
        return status, {"error": payload[:200].decode(errors="replace")}


def status(address: str, timeout: float = 2.0) -> dict | None:
    """The node's /status, or None when it does not answer."""
    try:
        code, body = http(address, "GET", "/status", timeout=timeout)
    except (OSError, socket.timeout):
        return None
    return body if code == 200 else None


def rank_followers(leader: dict, peers: dict[int, dict | None]) -> list[int]:
    """Peer ids, best successor first: followers of this leader in its term, most applied first,
    then the others (they may still catch up: the leader only sends TimeoutNow once they match)."""
    def key(nid: int):
        st = peers[nid]
        follows = bool(st) and st.get("leader") == leader["id"] and st.get("term") == leader["term"]
        return (not follows, -(st or {}).get("applied", -1), -(st or {}).get("commit", -1), nid)
    return sorted((nid for nid in peers if nid != leader["id"]), key=key)


def _peer_clients(args) -> dict[int, str]:
    if args.peer_clients:
        return dict(args.peer_clients)
    if args.peers_dns:
        if not args.replicas:
            raise argparse.ArgumentTypeError("--peers-dns needs --replicas")
        sts, _ = discovery.parse_hostname(args.hostname or socket.gethostname())
        port = args.address.rpartition(":")[2]
        names = discovery.peer_names(sts, args.replicas, args.peers_dns)
        if not args.dns_server:
            return {i + 1: f"{name}:{port}" for i, name in enumerate(names)}
        resolve = discovery.nameserver_resolver(args.dns_server)
        out = {}
        for i, name in enumerate(names):
            try:
                out[i + 1] = f"{resolve(name)}:{port}"
            except LookupError:
                pass  # no waiting for DNS at shutdown: a peer that does not resolve is no candidate
        return out
    raise argparse.ArgumentTypeError("step-down needs --peer-clients or --peers-dns with --replicas")


def step_down(address: str, peer_clients: dict[int, str], timeout: float, out=sys.stdout, *,
              admin_address: str, token: str) -> int:
    """Move leadership away from the node at `address` (its admin API at `admin_address`);
    -> the new leader's id (or its own leader if it was not leading)."""
    deadline = time.monotonic() + timeout
    start = time.monotonic()
    me = status(address)
    if me is None:
        raise AdminError(f"node at {address} does not answer /status")
    if me["role"] != "leader":
        print(f"node {me['id']} is not the leader (leader: {me.get('leader')}); nothing to do", file=out)
        return me.get("leader") or 0
    tried: list[int] = []
    while time.monotonic() < deadline:
        left = deadline - time.monotonic()
        peers = {nid: status(addr, timeout=min(1.0, left)) for nid, addr in peer_clients.items() if nid != me["id"]}
        order = rank_followers(me, peers)
        if not order:
            raise AdminError(f"node {me['id']} has no peer to hand leadership to")
        # prefer a candidate not tried yet, so one stuck follower cannot eat the whole budget
        to = next((n for n in order if n not in tried), order[0])
        tried.append(to)
        try:
            code, reply = http(admin_address, "POST", "/admin/transfer-leader", {"to": to},
                               timeout=max(0.5, min(5.0, deadline - time.monotonic())), token=token)
        except OSError:
            code = None  # a timed-out transfer may still complete; the status below decides
        if code == 401:
            raise AdminError(f"the admin API at {admin_address} refused the token: {reply.get('error')}")
        while time.monotonic() < deadline:
            now = status(address, timeout=1.0)
            if now is None:
                raise AdminError(f"node at {address} stopped answering during the transfer")
            if now.get("leader") not in (None, me["id"]) and now["role"] != "leader":
                print(f"leadership moved from node {me['id']} to node {now['leader']} "
                      f"in {time.monotonic() - start:.2f} s", file=out)
                return now["leader"]
            if now["role"] == "leader":
                break  # this transfer did not take: try the next candidate
            time.sleep(0.05)  # stepped down, no new leader known yet
        me = status(address) or me
    raise AdminError(f"node {me['id']} still leads (or no new leader is known) after {timeout:g} s")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(2, f"{PROG}: error: {message}\n")


def _address(s: str) -> str:
    host, sep, port = s.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"bad address {s!r}: expected HOST:PORT")
    return s


def _id_map(s: str) -> dict[int, str]:
    out = {}
    for item in filter(None, s.split(",")):
        nid, sep, addr = item.partition("=")
        if not sep or not nid.strip().isdigit():
            raise argparse.ArgumentTypeError(f"bad entry {item!r}: expected ID=HOST:PORT")
        out[int(nid)] = _address(addr.strip())
    return out


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Probes and the pre-stop leader hand-off for a reference KV node.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, help_ in (("status", "print the node's /status"),
                        ("ready", "exit 0 if the node knows a leader (readiness probe)")):
        s = sub.add_parser(name, help=help_)
        s.add_argument("--address", type=_address, required=True, help="the node's client API HOST:PORT")
        s.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for the answer")
    s = sub.add_parser("step-down", help="if the node leads, transfer leadership and wait for a new leader")
    s.add_argument("--address", type=_address, required=True, help="the node's client API HOST:PORT")
    s.add_argument("--timeout", type=float, default=20.0, help="give up after this many seconds (exit 1)")
    s.add_argument("--peer-clients", type=_id_map, default=None, help="ID=HOST:PORT,... every node's client API")
    s.add_argument("--peers-dns", metavar="DOMAIN", help="headless Service domain: peers are <sts>-<ordinal>.DOMAIN")
    s.add_argument("--replicas", type=int, help="number of voters (StatefulSet replicas)")
    s.add_argument("--hostname", help="this pod's name <sts>-<ordinal> (default: the host name)")
    s.add_argument("--dns-server", metavar="HOST[:PORT]", help="ask this nameserver instead of the system resolver")
    s.add_argument("--admin-address", type=_address, default=f"127.0.0.1:{ADMIN_PORT}",
                   help="the node's admin API HOST:PORT (its --admin-listen)")
    s.add_argument("--admin-token-file", default=None, metavar="FILE",
                   help=f"the admin token (default: ${admintoken.TOKEN_ENV})")
    return p


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    try:
        if args.command == "status":
            st = status(args.address, args.timeout)
            if st is None:
                raise AdminError(f"node at {args.address} does not answer /status")
            print(json.dumps(st, sort_keys=True))
            return 0
        if args.command == "ready":
            st = status(args.address, args.timeout)
            if st is None:
                raise AdminError(f"node at {args.address} does not answer /status")
            if not st.get("leader"):
                raise AdminError(f"node {st.get('id')} knows no leader (role {st.get('role')}, term {st.get('term')})")
            return 0
        try:
            peers = _peer_clients(args)
            token = admintoken.load(args.admin_token_file)
        except (argparse.ArgumentTypeError, discovery.DiscoveryError, ValueError) as e:
            p.error(str(e))
        if token is None:
            p.error(f"step-down needs the admin token: --admin-token-file FILE or ${admintoken.TOKEN_ENV}")
        step_down(args.address, peers, args.timeout, admin_address=args.admin_address, token=token)
        return 0
    except AdminError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
