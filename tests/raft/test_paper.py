"""One test per claim of the Raft paper (and of the extensions we rely on)."""
import pytest

from reference_kv.raft import (
    Config, ConfChange, ConfChangeType, Entry, HardState, InitialState, InvalidConfChange,
    Message, MsgType, NotLeader, ProposalDropped, RawNode, Role,
)

from .sim import Network

pytestmark = pytest.mark.unit
import random


def payloads(node):
    return [d for _, d in node.sm if d]


def test_one_leader_elected_and_followers_agree_on_term():
    net = Network(5, seed=3)
    lead = net.elect()
    term = net.nodes[lead].raft.term
    for i, n in net.nodes.items():
        assert n.raft.term == term
        assert n.raft.lead == lead
        assert (n.raft.role == Role.LEADER) == (i == lead)


def test_election_timeout_is_randomized_within_one_to_two_timeouts():
    net = Network(3, seed=4, election_tick=10)
    seen = set()
    for _ in range(50):
        r = net.nodes[1].raft
        r.become_follower(r.term, 0)
        assert 10 <= r.randomized_election_timeout < 20
        seen.add(r.randomized_election_timeout)
    assert len(seen) > 3


def test_new_leader_appends_an_empty_entry_of_its_term():
    net = Network(3, seed=5)
    lead = net.elect()
    r = net.nodes[lead].raft
    last = r.log.ents[-1]
    assert last.term == r.term and last.data == b""
    net.tick(2)
    assert r.log.committed == last.index


def test_entries_replicate_in_order_to_every_node():
    net = Network(3, seed=6)
    net.elect()
    for k in range(20):
        net.propose(b"x%d" % k)
    net.tick(2)
    want = [b"x%d" % k for k in range(20)]
    for n in net.nodes.values():
        assert payloads(n) == want


def _leader_with_old_entries():
    """Node 1 holds two term-1 entries (one committed) and wins term 2 by hand."""
    ents = [Entry(1, 1, data=b"a"), Entry(1, 2, data=b"b")]
    st = InitialState(HardState(term=1, vote=0, commit=1), entries=ents, applied=1)
    rn = RawNode(Config(id=1, peers=(1, 2, 3), pre_vote=False), st, random.Random(1))
    rn.campaign()
    rn.step(Message(MsgType.VOTE_RESP, 1, 2, term=2))
    assert rn.raft.role == Role.LEADER
    return rn


def test_entries_of_earlier_terms_are_not_committed_by_counting_replicas():
    rn = _leader_with_old_entries()
    # Follower 2 acknowledges only the old term-1 entry 2: a majority holds it,
    # but committing it by counting is what Figure 8 of the paper forbids.
    rn.step(Message(MsgType.APP_RESP, 1, 2, term=2, index=2))
    assert rn.raft.log.committed == 1
    rn.step(Message(MsgType.APP_RESP, 1, 2, term=2, index=3))
    assert rn.raft.log.committed == 3


def test_follower_rejects_append_that_does_not_match_and_hints_the_term_start():
    ents = [Entry(1, i) for i in range(1, 6)] + [Entry(2, i) for i in range(6, 11)]
    st = InitialState(HardState(term=2), entries=ents)
    rn = RawNode(Config(id=2, peers=(1, 2, 3)), st, random.Random(1))
    # Leader of term 3 probes at index 10 with term 3: our entry 10 has term 2.
    rn.step(Message(MsgType.APP, 2, 1, term=3, log_term=3, index=10))
    rd = rn.ready()
    (resp,) = rd.messages
    assert resp.reject and resp.index == 10
    assert (resp.reject_hint, resp.log_term) == (10, 2)


def test_fast_backtracking_needs_one_round_trip_per_term_not_per_entry():
    common = [Entry(1, i) for i in range(1, 51)]
    leader_log = common + [Entry(3, i) for i in range(51, 101)]
    stale_log = common + [Entry(2, i) for i in range(51, 101)]
    net = Network(3, seed=7, pre_vote=False, check_quorum=False)  # restarted voters stay quiet otherwise
    for i, log in ((1, leader_log), (2, stale_log), (3, leader_log)):
        n = net.nodes[i]
        n.hard, n.log = HardState(term=3, commit=50), list(log)
        n.restart()
    rejects = []
    net.filter = lambda m: (m.type == MsgType.APP_RESP and m.reject and rejects.append(m)) and False
    net.campaign(1)
    assert net.leader() == 1
    net.tick(3)
    assert len(rejects) == 1, rejects  # a naive backtracker needs 50
    assert net.nodes[2].raft.log.ents[-1] == net.nodes[1].raft.log.ents[-1]


def test_prevote_keeps_a_partitioned_node_from_disrupting_on_rejoin():
    net = Network(3, seed=8)
    lead = net.elect()
    term = net.nodes[lead].raft.term
    lone = next(i for i in net.nodes if i != lead)
    net.isolate(lone)
    net.tick(100)
    assert net.nodes[lone].raft.term == term  # PreVote never won: term unchanged
    net.heal()
    net.tick(5)
    assert net.leader() == lead and net.nodes[lead].raft.term == term


def test_without_prevote_a_rejoining_node_disrupts_the_leader():
    # The control for the test above: the same schedule does disrupt without PreVote.
    net = Network(3, seed=8, pre_vote=False, check_quorum=False)
    lead = net.elect()
    term = net.nodes[lead].raft.term
    lone = next(i for i in net.nodes if i != lead)
    net.isolate(lone)
    net.tick(100)
    assert net.nodes[lone].raft.term > term
    net.heal()
    net.tick(30)
    assert net.nodes[lead].raft.term > term


def test_check_quorum_leader_steps_down_when_cut_off():
    net = Network(3, seed=9, election_tick=10)
    lead = net.elect()
    net.isolate(lead)
    net.tick(20)  # two election timeouts: one to miss the quorum, one more at most
    assert net.nodes[lead].raft.role == Role.FOLLOWER
    others = [i for i in net.nodes if i != lead]
    net.tick(40)
    assert any(net.nodes[i].raft.role == Role.LEADER for i in others)


def test_check_quorum_followers_ignore_votes_while_the_leader_is_heard():
    net = Network(3, seed=10)
    lead = net.elect()
    f, cand = [i for i in net.nodes if i != lead]
    n = net.nodes[f]
    term = n.raft.term

    def ask():
        n.rn.step(Message(MsgType.VOTE, f, cand, term=term + 5, log_term=100, index=100))
        return [m for m in n.drain() if m.type == MsgType.VOTE_RESP]

    assert ask() == [] and n.raft.term == term  # leader heard: the vote is ignored
    net.isolate(f)
    net.tick(10)  # one election timeout without the leader
    (resp,) = ask()
    assert not resp.reject and n.raft.term == term + 5


def test_readindex_waits_until_new_leader_commits_in_its_term():
    net = Network(3, seed=11)
    net.filter = lambda m: m.type == MsgType.APP  # the new leader's entry never arrives
    net.campaign(1)
    assert net.leader() == 1
    n1 = net.nodes[1]
    n1.rn.read_index(b"q")
    net.tick(3)
    assert n1.read_states == []  # heartbeats got through, but no entry of term is committed
    net.filter = None
    net.tick(3)
    (rs,) = n1.read_states
    assert rs.ctx == b"q" and rs.index == n1.raft.log.committed


def test_readindex_on_leader_confirms_with_a_heartbeat_quorum():
    net = Network(3, seed=12)
    lead = net.elect()
    net.tick(2)
    net.propose(b"w")
    n = net.nodes[lead]
    commit = n.raft.log.committed
    net.partition([lead], [i for i in net.nodes if i != lead])
    n.rn.read_index(b"r1")
    net.deliver()
    assert n.read_states == []  # no quorum heard the heartbeat round
    net.heal()
    net.tick(1)
    assert [(r.index, r.ctx) for r in n.read_states] == [(commit, b"r1")]


def test_follower_read_gets_the_leaders_commit_index():
    net = Network(3, seed=13)
    lead = net.elect()
    net.propose(b"w")
    net.tick(1)
    f = next(i for i in net.nodes if i != lead)
    net.nodes[f].rn.read_index(b"fr")
    net.deliver()
    (rs,) = net.nodes[f].read_states
    assert rs.ctx == b"fr" and rs.index >= net.nodes[lead].raft.log.committed


def test_lease_read_is_refused_without_check_quorum():
    with pytest.raises(ValueError, match="check_quorum"):
        RawNode(Config(id=1, peers=(1, 2, 3), read_only="lease_based", check_quorum=False),
                InitialState(), random.Random(0))


def test_lease_read_answers_without_a_round_trip_until_the_lease_runs_out():
    net = Network(3, seed=14, read_only="lease_based", election_tick=10, lease_drift_ticks=2)
    lead = net.elect()
    net.tick(2)
    n = net.nodes[lead]
    n.rn.read_index(b"l1")
    n.drain()
    assert [r.ctx for r in n.read_states] == [b"l1"]  # no message was delivered
    net.isolate(lead)
    net.tick(8)  # past election_tick - drift since the last acknowledged round
    n.read_states.clear()
    n.rn.read_index(b"l2")
    n.drain()
    assert n.read_states == []


def test_lagging_follower_catches_up_by_snapshot():
    net = Network(3, seed=15)
    lead = net.elect()
    lag = next(i for i in net.nodes if i != lead)
    net.crash(lag)
    for k in range(30):
        net.propose(b"s%d" % k)
    net.tick(1)
    net.nodes[lead].take_snapshot()
    assert net.nodes[lead].raft.log.first_index() > net.nodes[lag].raft.log.last_index() + 1
    net.restart(lag)
    net.tick(5)
    assert net.nodes[lag].snap is not None and net.nodes[lag].snap.index > 0
    assert payloads(net.nodes[lag]) == payloads(net.nodes[lead])
    assert net.nodes[lead].raft.prs[lag].state.name == "REPLICATE"


def test_restart_keeps_term_and_vote():
    net = Network(3, seed=16)
    lead = net.elect()
    n = net.nodes[lead]
    term = n.raft.term
    net.restart(lead)
    assert (n.raft.term, n.raft.vote) == (term, lead)
    net.tick(30)
    assert net.leader()


def _apply_everywhere(net):
    net.tick(3)


def test_membership_add_learner_promote_and_remove_leader():
    net = Network(3, seed=17)
    lead = net.elect()
    net.add_node(4)
    L = net.nodes[lead].rn
    L.propose_conf_change(ConfChange(ConfChangeType.ADD_LEARNER, 4))
    net.tick(3)
    with pytest.raises(InvalidConfChange):
        L.propose_conf_change(ConfChange(ConfChangeType.ADD_LEARNER, 4))
    net.propose(b"after-learner")
    net.tick(5)
    n4 = net.nodes[4]
    assert b"after-learner" in payloads(n4)
    assert n4.raft.visible_role() == Role.LEARNER and n4.raft.voters == {1, 2, 3}
    # A learner's acknowledgement does not count: cut two voters, nothing commits.
    others = [i for i in (1, 2, 3) if i != lead]
    net.isolate(others[0])
    net.isolate(others[1])
    net.cut.discard((lead, 4)); net.cut.discard((4, lead))
    c = net.nodes[lead].raft.log.committed
    L.propose(b"needs-a-voter")
    net.deliver()
    assert net.nodes[lead].raft.log.committed == c
    net.heal()
    net.tick(2)
    L.propose_conf_change(ConfChange(ConfChangeType.PROMOTE, 4))
    net.tick(3)
    assert net.nodes[lead].raft.voters == {1, 2, 3, 4}
    assert n4.raft.voters == {1, 2, 3, 4}
    L.propose_conf_change(ConfChange(ConfChangeType.REMOVE, lead))
    net.tick(3)
    assert net.nodes[lead].raft.role != Role.LEADER
    assert lead not in net.nodes[others[0]].raft.voters
    net.crash(lead)
    new = net.elect()
    assert new != lead
    net.propose(b"without-old-leader", at=new)
    net.tick(2)
    assert b"without-old-leader" in payloads(net.nodes[4])


def test_only_one_membership_change_at_a_time():
    net = Network(3, seed=18)
    lead = net.elect()
    net.tick(2)
    net.add_node(4)
    L = net.nodes[lead].rn
    L.propose_conf_change(ConfChange(ConfChangeType.ADD_LEARNER, 4))
    with pytest.raises(ProposalDropped):
        L.propose_conf_change(ConfChange(ConfChangeType.REMOVE, 4))


def test_leader_transfer_hands_over_without_waiting_for_timeouts():
    net = Network(3, seed=19)
    lead = net.elect()
    to = next(i for i in net.nodes if i != lead)
    net.nodes[lead].rn.transfer_leader(to)
    net.deliver()  # no tick: TIMEOUT_NOW makes the transferee campaign at once
    assert net.leader() == to


def test_leader_transfer_to_unreachable_node_aborts_after_an_election_timeout():
    net = Network(3, seed=20, election_tick=10)
    lead = net.elect()
    to = next(i for i in net.nodes if i != lead)
    net.cut.add((lead, to))
    net.nodes[lead].rn.transfer_leader(to)
    with pytest.raises(ProposalDropped):
        net.nodes[lead].rn.propose(b"x")
    net.tick(10)
    assert net.nodes[lead].raft.lead_transferee == 0
    net.nodes[lead].rn.propose(b"x")


def test_followers_redirect_proposals_with_the_leader_hint():
    net = Network(3, seed=21)
    lead = net.elect()
    f = next(i for i in net.nodes if i != lead)
    with pytest.raises(NotLeader) as ei:
        net.nodes[f].rn.propose(b"x")
    assert ei.value.leader == lead
