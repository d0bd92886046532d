"""Peer discovery from DNS, for nodes run by a Kubernetes StatefulSet.

A StatefulSet pod is named `<sts>-<ordinal>` and, behind a headless Service
`<svc>`, is reachable as `<sts>-<ordinal>.<svc>`. A node started with
`--peers-dns <svc> --replicas N` learns its ordinal from its hostname, takes
id = ordinal + 1, and builds `--id`, `--peers` and `--peer-clients` for
ordinals 0..N-1. Pods appear one by one, so it retries until every name
resolves or `--dns-timeout` passes; only then does the node start.

Two ways in, with the same flags:
- `python -m reference_kv.discovery [discovery flags] [node flags]` expands
  the flags and execs `python -m reference_kv` (`--dry-run` prints instead);
- `python -m reference_kv [discovery flags] [node flags]` once `__main__`
  calls `expand_argv` first thing (see the module's one-line hook).

Discovery flags: --peers-dns DOMAIN, --replicas N, --hostname NAME (default:
this host's name), --dns-timeout SECONDS (300), --dns-server HOST[:PORT]
(ask this nameserver instead of the system resolver; needs dnspython),
--peer-hosts name|ip (name: dial peers by DNS name, so a pod that comes back
with a new IP is still found; ip: dial the addresses resolved now).
Peer and client ports are the ports of the node's --peer-listen and --listen.
"""
from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import time
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger("reference_kv.discovery")

Resolver = Callable[[str], str]
"""name -> address; raises LookupError while the name does not resolve (yet)."""


class DiscoveryError(Exception):
    """Discovery cannot start: bad flags or a hostname that is not <sts>-<ordinal>."""


class ResolveTimeout(DiscoveryError):
    """A peer's name did not resolve before the deadline."""


@dataclass(frozen=True)
class Plan:
    id: int
    peers: dict[int, str]
    peer_clients: dict[int, str]


def parse_hostname(hostname: str) -> tuple[str, int]:
    """`kv-2` (or `kv-2.kv.ns.svc...`) -> ("kv", 2)."""
    first = hostname.split(".", 1)[0]
    sts, sep, ordinal = first.rpartition("-")
    if not sep or not sts or not ordinal.isdigit():
        raise DiscoveryError(f"hostname {hostname!r} is not <statefulset>-<ordinal>")
    return sts, int(ordinal)


def peer_names(sts: str, replicas: int, domain: str) -> list[str]:
    return [f"{sts}-{i}.{domain}" for i in range(replicas)]


def system_resolver() -> Resolver:
    """The resolver the pod is configured with (resolv.conf search list, hosts file, ...)."""
    def resolve(name: str) -> str:
        try:
            infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as e:
            raise LookupError(str(e)) from None
        # IPv4 first: the node's address parser takes HOST:PORT without brackets
        infos.sort(key=lambda i: i[0] != socket.AF_INET)
        return infos[0][4][0]
    return resolve


def nameserver_resolver(server: str, query_timeout: float = 1.0) -> Resolver:
    """A resolver that asks one given nameserver (HOST or HOST:PORT) for A records."""
    try:
        import dns.exception
        import dns.resolver
    except ImportError:
        raise DiscoveryError("--dns-server needs dnspython (pip install dnspython)") from None
    host, _, port = server.rpartition(":") if server.count(":") == 1 else (server, "", "53")
    if not port.isdigit():
        raise DiscoveryError(f"bad --dns-server {server!r}: expected HOST[:PORT]")
    r = dns.resolver.Resolver(configure=False)
    r.nameservers = [host]
    r.port = int(port)
    r.lifetime = query_timeout

    def resolve(name: str) -> str:
        try:
            answer = r.resolve(name if name.endswith(".") else name + ".", "A", search=False)
        except dns.exception.DNSException as e:
            raise LookupError(f"{type(e).__name__}: {e}") from None
        return answer[0].address
    return resolve


def wait_resolved(names: list[str], resolve: Resolver, timeout: float,
                  clock: Callable[[], float] = time.monotonic,
                  sleep: Callable[[float], None] = time.sleep) -> dict[str, str]:
    """Resolve every name, retrying the missing ones with backoff until `timeout` seconds pass."""
    deadline = clock() + timeout
    found: dict[str, str] = {}
    errors: dict[str, str] = {}
    delay = 0.1
    logged: tuple[list[str], float] | None = None
    while True:
        for name in names:
            if name in found:
                continue
            try:
                found[name] = resolve(name)
                errors.pop(name, None)
            except LookupError as e:
                errors[name] = str(e) or "no address"
        if len(found) == len(names):
            return {n: found[n] for n in names}
        left = deadline - clock()
        if left <= 0:
            missing = [n for n in names if n not in found]
            raise ResolveTimeout(f"{', '.join(missing)} did not resolve within {timeout:g} s "
                                 f"(last error: {errors[missing[0]]})")
        missing = [n for n in names if n not in found]
        if logged is None or logged[0] != missing or clock() - logged[1] >= 10:
            # once per change or per 10 s: a pod that waits minutes for its peers logs a few lines
            log.info("waiting for DNS: %s", ", ".join(missing))
            logged = (missing, clock())
        sleep(min(delay, left))
        delay = min(delay * 2, 2.0)


def plan(hostname: str, domain: str, replicas: int, peer_port: int, client_port: int,
         resolve: Resolver, timeout: float, use_ip: bool = False) -> Plan:
    sts, ordinal = parse_hostname(hostname)
    if ordinal >= replicas:
        raise DiscoveryError(f"ordinal {ordinal} of {hostname!r} is not below --replicas {replicas}")
    names = peer_names(sts, replicas, domain)
    addrs = wait_resolved(names, resolve, timeout)
    hosts = [addrs[n] if use_ip else n for n in names]
    return Plan(id=ordinal + 1,
                peers={i + 1: f"{h}:{peer_port}" for i, h in enumerate(hosts)},
                peer_clients={i + 1: f"{h}:{client_port}" for i, h in enumerate(hosts)})


def _positive_int(s: str) -> int:
    if not s.isdigit() or int(s) < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {s!r}")
    return int(s)


def _seconds(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {s!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {s!r}")
    return v


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(2, f"reference_kv: error: {message}\n")


def add_discovery_arguments(p: argparse.ArgumentParser, required: bool = False) -> None:
    p.add_argument("--peers-dns", metavar="DOMAIN", required=required,
                   help="headless Service domain: peers are <sts>-<ordinal>.DOMAIN")
    p.add_argument("--replicas", type=_positive_int, help="number of initial voters (StatefulSet replicas)")
    p.add_argument("--hostname", default=None, help="this pod's name <sts>-<ordinal> (default: the host name)")
    p.add_argument("--dns-timeout", type=_seconds, default=300.0, help="give up if a name does not resolve by then")
    p.add_argument("--dns-server", default=None, metavar="HOST[:PORT]",
                   help="ask this nameserver instead of the system resolver")
    p.add_argument("--peer-hosts", choices=("name", "ip"), default="name",
                   help="dial peers by DNS name (default) or by the address resolved now")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m reference_kv.discovery", allow_abbrev=False,
                description="Resolve StatefulSet peers from DNS, then run the node with --id/--peers/--peer-clients.",
                epilog="Other flags are passed to `python -m reference_kv` unchanged.")
    add_discovery_arguments(p)
    p.add_argument("--dry-run", action="store_true", help="print the node's command line instead of running it")
    return p


def _flag(argv: list[str], name: str) -> str | None:
    """The value of `--name V` or `--name=V` in the node's flags (the last one wins, as in argparse)."""
    value = None
    for i, a in enumerate(argv):
        if a == name and i + 1 < len(argv):
            value = argv[i + 1]
        elif a.startswith(name + "="):
            value = a[len(name) + 1:]
    return value


def _port_of(argv: list[str], flag: str) -> int:
    addr = _flag(argv, flag)
    if addr is None:
        raise DiscoveryError(f"{flag} HOST:PORT is required")
    port = addr.rpartition(":")[2]
    if not port.isdigit():
        raise DiscoveryError(f"bad {flag} {addr!r}: expected HOST:PORT")
    return int(port)


def _expand(argv: list[str], resolver: Resolver | None = None) -> tuple[list[str], argparse.Namespace]:
    args, rest = _parser().parse_known_args(argv)
    if not args.peers_dns:
        return rest, args
    if args.replicas is None:
        raise DiscoveryError("--peers-dns needs --replicas")
    for taken in ("--peers", "--peer-clients"):
        if _flag(rest, taken) is not None:
            raise DiscoveryError(f"give either --peers-dns or {taken}, not both")
    resolve = resolver or (nameserver_resolver(args.dns_server) if args.dns_server else system_resolver())
    p = plan(args.hostname or socket.gethostname(), args.peers_dns, args.replicas,
             _port_of(rest, "--peer-listen"), _port_of(rest, "--listen"),
             resolve, args.dns_timeout, use_ip=args.peer_hosts == "ip")
    given = _flag(rest, "--id")
    if given is not None and given != str(p.id):
        raise DiscoveryError(f"--id {given} contradicts the hostname's ordinal (id {p.id})")
    ids = [] if given is not None else ["--id", str(p.id)]
    return ids + rest + ["--peers", ",".join(f"{i}={a}" for i, a in p.peers.items()),
                         "--peer-clients", ",".join(f"{i}={a}" for i, a in p.peer_clients.items())], args


def expand_argv(argv: list[str], resolver: Resolver | None = None) -> list[str]:
    """The node's flags with the discovery flags replaced by --id, --peers, --peer-clients.

    Flags without --peers-dns come back unchanged. Bad flags exit 2 and a name
    that never resolves exits 1, each with one line on stderr, like argparse.
    """
    if not any(a == "--peers-dns" or a.startswith("--peers-dns=") for a in argv):
        return list(argv)
    try:
        return _expand(argv, resolver)[0]
    except DiscoveryError as e:
        print(f"reference_kv: error: {e}", file=sys.stderr)
        raise SystemExit(1 if isinstance(e, ResolveTimeout) else 2) from None


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s discovery %(levelname)s: %(message)s")
    argv = sys.argv[1:] if argv is None else list(argv)
    args, _ = _parser().parse_known_args(argv)
    if not args.peers_dns:
        print("reference_kv: error: --peers-dns DOMAIN is required", file=sys.stderr)
        return 2
    node_argv = [a for a in expand_argv(argv) if a != "--dry-run"]
    if args.dry_run:
        print(" ".join(node_argv))
        return 0
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "reference_kv", *node_argv])
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
