"""Membership changes and the core: one change at a time, applied before the applied index passes it,
whatever path the proposal came by (issue #14, defects 2 and 3)."""
from __future__ import annotations

import random

import pytest

from reference_kv.raft import (
    Config, ConfChange, ConfChangeType, ConfState, EntryType, InitialState, Message, MsgType, ProposalDropped,
    RawNode, decode_conf_change, encode_conf_change,
)
from reference_kv.raft.types import Entry

from .sim import Network

pytestmark = pytest.mark.unit


def _single_voter_leader(learners=(5, 6)) -> RawNode:
    rn = RawNode(Config(id=1, peers=(1,), learners=learners), InitialState(), random.Random(1))
    rn.campaign()
    _drain(rn, apply=True)
    assert rn.raft.role == 3
    return rn


def _drain(rn: RawNode, apply: bool) -> list:
    """Persist and (if apply) apply every Ready; -> the conf changes handed out."""
    out = []
    while rn.has_ready():
        rd = rn.ready()
        for e in rd.committed_entries:
            if e.type == EntryType.CONF_CHANGE:
                cc = decode_conf_change(e.data)
                out.append(cc)
                if apply:
                    rn.apply_conf_change(cc)
        rn.advance(rd)
    return out


def test_advance_past_an_unapplied_conf_change_is_refused():
    """etcd's server applies a conf change before Advance: the core's applied index must not pass
    a conf change the node has not applied, or the one-at-a-time gate lets a second one in."""
    rn = _single_voter_leader()
    rn.propose_conf_change(ConfChange(ConfChangeType.PROMOTE, 5))
    rd = rn.ready()
    while not any(e.type == EntryType.CONF_CHANGE for e in rd.committed_entries):
        rn.advance(rd)
        rd = rn.ready()
    with pytest.raises(AssertionError, match="conf change"):
        rn.advance(rd)  # the node did not apply it


def test_the_gate_stamps_the_applied_configuration():
    """Learner 7 added and applied, then learner 8: stamped with {1} | {5, 6, 7}, so applying it keeps 7."""
    rn = _single_voter_leader()
    rn.propose_conf_change(ConfChange(ConfChangeType.ADD_LEARNER, 7))
    with pytest.raises(ProposalDropped):  # one at a time
        rn.propose_conf_change(ConfChange(ConfChangeType.ADD_LEARNER, 8))
    _drain(rn, apply=True)
    rn.propose_conf_change(ConfChange(ConfChangeType.ADD_LEARNER, 8))
    ccs = _drain(rn, apply=True)
    assert ccs[-1].base == ConfState((1,), (5, 6, 7))
    assert rn.raft.conf_state() == ConfState((1,), (5, 6, 7, 8))


def test_no_campaign_while_a_committed_conf_change_is_unapplied():
    net = Network(3, seed=7)
    lead = net.elect()
    follower = next(i for i in net.nodes if i != lead)
    f = net.nodes[follower]
    # The follower learns a conf change is committed but has not applied it (its apply is slow).
    r = f.raft
    idx = r.log.last_index() + 1
    cc = encode_conf_change(ConfChange(ConfChangeType.ADD_LEARNER, 9, b"", r.conf_state()))
    r.log.append([Entry(r.term, idx, EntryType.CONF_CHANGE, cc)])
    r.log.commit_to(idx)
    rd = f.rn.ready()
    assert rd.committed_entries and rd.committed_entries[-1].index == idx
    try:
        f.rn.advance(rd)  # a node that moves on before applying it (refused once the core enforces it)
    except AssertionError:
        pass
    net.isolate(follower)
    for _ in range(3 * r.election_timeout):
        f.rn.tick()
    assert r.role == 0, "campaigned with a membership change committed but not applied"


def test_a_forwarded_conf_change_goes_through_the_gate():
    """A PROPOSE message (a follower forwarding a proposal) takes the leader's one proposal path:
    the gate refuses a second change while one is pending, and an accepted one carries its base."""
    net = Network(3, seed=8)
    lead = net.elect()
    leader = net.nodes[lead].rn
    other = next(i for i in net.nodes if i != lead)
    leader.propose_conf_change(ConfChange(ConfChangeType.ADD_LEARNER, 4))  # pending, not yet applied
    before = leader.raft.log.last_index()
    forwarded = ConfChange(ConfChangeType.ADD_LEARNER, 5)  # no base: the follower does not stamp it
    leader.step(Message(MsgType.PROPOSE, lead, other, leader.raft.term,
                        entries=(Entry(0, 0, EntryType.CONF_CHANGE, encode_conf_change(forwarded)),)))
    assert leader.raft.log.last_index() == before, "a second conf change got past the gate through PROPOSE"
    net.deliver()
    net.tick(3)
    assert 4 in leader.raft.learners
    leader.step(Message(MsgType.PROPOSE, lead, other, leader.raft.term,
                        entries=(Entry(0, 0, EntryType.CONF_CHANGE, encode_conf_change(forwarded)),)))
    last = leader.raft.log.ents[-1]
    assert last.type == EntryType.CONF_CHANGE
    assert decode_conf_change(last.data).base == ConfState(tuple(sorted(net.nodes)), (4,))
