"""`python -m reference_kv.k8s_secrets DIR`: the files deploy/k8s's Secrets are generated from.

Writes, each readable by its owner only:

- DIR/peer-tls/{ca.crt,tls.crt,tls.key}: the Secret `kv-peer-tls`, mounted as
  every pod's --peer-tls directory. One member certificate for the whole set
  (a peer is anything the cluster CA signed; host names are not checked, see
  reference_kv.tls), named for the pods' DNS names.
- DIR/admin/token: the Secret `kv-admin-token`, the admin API's token.
- DIR/ca/{ca.crt,ca.key}: the cluster CA. It never goes into the cluster: keep
  it to issue certificates later, or delete it.

deploy/k8s/kustomization.yaml's secretGenerator reads DIR = deploy/k8s/secrets
(ignored by git). Existing files are kept unless --force: replacing the CA
of a running cluster cuts its members apart. Bad input: one line, exit 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reference_kv import admintoken, tls

PROG = "python -m reference_kv.k8s_secrets"


def generate(out: Path, service: str = "kv", namespace: str = "default", force: bool = False) -> list[Path]:
    """-> the files written; FileExistsError when DIR already holds them and not `force`."""
    peer, admin, ca = out / "peer-tls", out / "admin", out / "ca"
    made = [peer / tls.CA_CERT, peer / tls.CERT, peer / tls.KEY, admin / "token", ca / tls.CA_CERT, ca / tls.CA_KEY]
    there = [p for p in made if p.exists()]
    if there and not force:
        raise FileExistsError(f"{there[0]} exists (a new CA would cut a running cluster apart; --force replaces it)")
    tls.create_ca(ca, name=f"reference-kv {service}.{namespace} cluster CA")
    hosts = [f"*.{service}", f"*.{service}.{namespace}.svc", f"*.{service}.{namespace}.svc.cluster.local"]
    tls.issue(ca, peer, f"{service} member", hosts)
    admintoken.write_file(admin / "token")
    for d in (out, peer, admin, ca):
        d.chmod(0o700)
    return made


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=PROG, description="Generate the peer TLS and admin token files of deploy/k8s.")
    p.add_argument("dir", type=Path, help="where to write them (deploy/k8s/secrets for the kustomization)")
    p.add_argument("--service", default="kv", help="the headless Service (the pods' DNS names, for the certificate)")
    p.add_argument("--namespace", default="default")
    p.add_argument("--force", action="store_true", help="replace existing files (a new CA and token)")
    args = p.parse_args(argv)
    try:
        for path in generate(args.dir, args.service, args.namespace, args.force):
            print(path)
    except (FileExistsError, OSError, ValueError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
