"""What a client knows about an operation that did not succeed.

The split matters more than the message: the recorder turns a DefiniteError into
a history `fail` (the operation did not take effect, the checker may drop it)
and an IndeterminateError into `info` (it may take effect at any later time).
Calling a definite failure indeterminate costs only checker time; the reverse
makes the checker report bugs that are not there, or miss real ones.
"""
from __future__ import annotations


class ClientError(Exception):
    """An operation that did not complete normally; `kind` is a short reason for the history."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


class DefiniteError(ClientError):
    """Definitely not applied: nothing was sent, or the server said it did not apply it."""


class IndeterminateError(ClientError):
    """Outcome unknown: the request may have been applied (timeout, connection lost after sending)."""
