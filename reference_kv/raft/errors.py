"""Named errors for the conditions a caller of the Raft core is expected to handle.

A broken invariant is not one of these: it raises AssertionError with the
context needed to debug it.
"""
from __future__ import annotations


class RaftError(Exception):
    """Base of every expected condition the core reports."""


class NotLeader(RaftError):
    """This node cannot accept the request; `leader` is the known leader or 0."""

    def __init__(self, leader: int):
        super().__init__(f"not the leader (leader is {leader or 'unknown'})")
        self.leader = leader


class ProposalDropped(RaftError):
    """The leader refused the proposal (transfer in progress, removed, change pending)."""


class InvalidConfChange(ProposalDropped):
    """The membership change does not make sense for the current configuration."""


class ErrCompacted(RaftError):
    """The requested index lies at or below the last snapshot."""


class ErrUnavailable(RaftError):
    """The requested index lies beyond the last log index."""
