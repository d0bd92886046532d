import pytest

from .sim import Network

pytestmark = pytest.mark.unit


def test_three_nodes_elect_and_replicate():
    net = Network(3, seed=1)
    lead = net.elect()
    for k in range(5):
        net.propose(b"v%d" % k)
    net.tick(2)
    for n in net.nodes.values():
        assert [d for _, d in n.sm if d] == [b"v%d" % k for k in range(5)], n.id
    assert net.leader() == lead
