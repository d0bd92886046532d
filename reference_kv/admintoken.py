"""The admin API's bearer token: where it comes from, what it must look like, how it is sent.

A node reads its token from `--admin-token-file FILE` (a Kubernetes Secret
mounted as a file is such a file) or, when the flag is absent, from the
environment variable TOKEN_ENV (how the suite hands it to nodes on every
backend without writing files there; environments, unlike command lines,
are not readable by other users). Clients send it as
`Authorization: Bearer TOKEN`. The file holds the token on its first line;
surrounding whitespace is ignored.
"""
from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

TOKEN_ENV = "REFERENCE_KV_ADMIN_TOKEN"
MIN_LENGTH = 16  # shorter tokens are guessable; new_token() gives 43 characters
_ALLOWED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=")  # RFC 6750 b64token


def new_token() -> str:
    return secrets.token_urlsafe(32)


def check(token: str, where: str) -> str:
    token = token.strip()
    if len(token) < MIN_LENGTH:
        raise ValueError(f"admin token from {where} is {len(token)} characters; at least {MIN_LENGTH} are needed")
    if not set(token) <= _ALLOWED:
        raise ValueError(f"admin token from {where} has characters a bearer token may not have "
                         f"(letters, digits and -._~+/= only)")
    return token


def read_file(path) -> str:
    p = Path(path)
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"cannot read the admin token file {p}: {e}") from None
    return check(text.strip().splitlines()[0] if text.strip() else "", str(p))


def load(path=None, environ=os.environ) -> str | None:
    """The token a node or a client uses: from `path`, else from TOKEN_ENV, else None (no admin API)."""
    if path is not None:
        return read_file(path)
    value = environ.get(TOKEN_ENV)
    return None if value is None else check(value, f"${TOKEN_ENV}")


def write_file(path, token: str | None = None) -> str:
    """A token file only its owner can read; -> the token."""
    token = check(token or new_token(), "the caller")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


def headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def matches(authorization: str | None, token: str) -> bool:
    """Whether an Authorization header carries `token` (compared in constant time)."""
    if not authorization:
        return False
    scheme, _, given = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
