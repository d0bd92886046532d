"""System file keys that fit real systems: named ports, a ready probe that reads a JSON field,
a leader probe that combines requests or runs a command (each node's last answer kept), and
membership and leader transfer through commands."""
from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from nemesis.types import Addr, NodeAddresses
from splitbrain.systems.described import SystemFileError, load

pytestmark = pytest.mark.unit
NODE = '[node]\ncommand = "srv --port {port} --metrics {metrics_port}"\n[node.ports]\nmetrics = 9100\n'
CLIENT = '[client]\nprotocol = "etcd"\n'


def write(tmp_path, text):
    p = tmp_path / "system.toml"
    p.write_text(text)
    return load(p)


def addresses(n=3, port=None):
    clients = {str(i): Addr(f"127.0.0.{i}", port or 8000 + i) for i in range(1, n + 1)}
    peers = {str(i): Addr(f"127.0.0.{i}", 9000 + i) for i in range(1, n + 1)}
    return {i: NodeAddresses(id=i, host=clients[i].host, client=clients[i], peer=peers[i], dial=peers, cluster=peers,
                             clients=clients, data_dir=f"/data/{i}") for i in clients}


def test_named_ports_are_placeholders_of_the_command_and_the_probes(tmp_path):
    s = write(tmp_path, NODE + '[ready]\nprobe = "http"\nurl = "http://{host}:{metrics_port}/ready"\n' + CLIENT)
    a = addresses()
    assert s.node_specs(3)[1].argv(a["2"]) == ["srv", "--port", "8002", "--metrics", "9100"]
    assert s._probe_values(a["2"])["metrics_port"] == 9100


@pytest.mark.parametrize("text, key, expected", [
    ('[node]\ncommand = "x"\n[node.ports]\nmetrics = 0\n' + CLIENT, "node.ports.metrics", "from 1 to 65535"),
    ('[node]\ncommand = "x"\n[node.ports]\npeer = 7\n' + CLIENT, "node.ports.peer", "other than client and peer"),
    ('[node]\ncommand = "x {admin_port}"\n[node.ports]\nmetrics = 9\n' + CLIENT, "node.command", "{admin_port}"),
    (NODE + '[ready]\nfield = "ok"\n' + CLIENT, "ready.field", "only the http probe"),
    (NODE + '[ready]\nprobe = "http"\nurl = "http://{host}/"\nvalue = 1\n' + CLIENT, "ready.value", "needs field"),
    (NODE + '[leader]\nurl = "http://{host}:{port}/s"\nfield = "l"\nterm_url = "http://{host}/t"\n' + CLIENT,
     "leader.term_url", "needs term"),
    (NODE + '[leader]\ncommand = "probe {id}"\nfield = "l"\nurl = "http://x/"\n' + CLIENT, "leader.url",
     "does not apply to the command probe"),
    (NODE + '[leader]\ncommand = "probe {nope}"\nfield = "l"\n' + CLIENT, "leader.command", "{nope}"),
    (NODE + '[membership]\nremove = "rm {id}"\n' + CLIENT, "membership.add", "missing"),
    (NODE + '[membership]\nremove = "rm {id}"\nadd = "add {to}"\n' + CLIENT, "membership.add", "{to}"),
    (NODE + '[leader]\nurl = "http://{host}:{port}/s"\nfield = "l"\ntransfer = 3\n' + CLIENT, "leader.transfer",
     "a command"),
    (NODE + '[leader]\ncommand = "p"\nfield = "l"\nperiod = 0\n' + CLIENT, "leader.period", "above 0"),
])
def test_a_bad_key_is_one_line_naming_it(tmp_path, text, key, expected):
    with pytest.raises(SystemFileError) as e:
        write(tmp_path, text)
    assert f": {key}: " in str(e.value) and expected in str(e.value), str(e.value)


class _Status(BaseHTTPRequestHandler):
    """A node's HTTP API as many systems have it: health and leader on one route, the term on another."""

    answers = {"/health": {"state": "serving"}, "/leader": {"leader": "n2", "me": "n2"}, "/raft": {"term": 7}}

    def do_GET(self):
        body = json.dumps(self.answers.get(self.path, {})).encode()
        self.send_response(200 if self.path in self.answers else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def node():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Status)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield addresses(1, server.server_address[1])["1"]
    finally:
        server.shutdown()
        server.server_close()


def test_ready_reads_a_json_field_and_the_leader_comes_from_two_requests(tmp_path, node):
    base = '[node]\ncommand = "x"\n[ready]\nprobe = "http"\nurl = "http://{host}:{port}/health"\nfield = "state"\n'
    s = write(tmp_path, base + 'value = "serving"\n[leader]\nurl = "http://{host}:{port}/leader"\nfield = "leader"\n'
                              'self = "me"\nterm_url = "http://{host}:{port}/raft"\nterm = "term"\n' + CLIENT)
    assert s.ready(node, 1.0) is True
    assert s.status(node, 1.0) == {"role": "leader", "leader": "n2", "term": 7, "self": "n2"}
    assert write(tmp_path, base + 'value = "starting"\n' + CLIENT).ready(node, 1.0) is False
    # a wrong field names no leader; what the node said is kept for "no leader was agreed on"
    s = write(tmp_path, base + '[leader]\nurl = "http://{host}:{port}/leader"\nfield = "leaderId"\n' + CLIENT)
    assert s.status(node, 1.0)["leader"] is None
    assert s.last_answer("1") == '{"leader": "n2", "me": "n2"} (no leaderId in it)'
    s = write(tmp_path, base + '[leader]\nurl = "http://{host}:{port}/nope"\nfield = "leader"\n' + CLIENT)
    assert s.status(node, 1.0) is None and s.last_answer("1").startswith("HTTP 404")


def test_a_leader_probe_may_be_a_command(tmp_path):
    script = tmp_path / "probe.py"
    script.write_text("import json, sys\nprint(json.dumps({'leader': '2', 'term': int(sys.argv[2])}))\n")
    s = write(tmp_path, NODE + f'[leader]\ncommand = ["{sys.executable}", "{script}", "{{id}}", "{{metrics_port}}"]\n'
                              'field = "leader"\nterm = "term"\n' + CLIENT)
    a = addresses()
    assert s.status(a["2"], 5.0) == {"role": "leader", "leader": "2", "term": 9100, "self": "2"}
    assert s.status(a["1"], 5.0)["role"] == "follower"
    assert s.probe_period == 0.2  # a process per round costs more than a request: sampled less often
    script.write_text("import sys\nsys.exit('cannot reach the node')\n")
    assert s.status(a["1"], 5.0) is None and s.last_answer("1") == "exit 1: cannot reach the node"


def test_membership_and_leader_transfer_run_the_files_commands(tmp_path):
    log = tmp_path / "admin.log"
    # a command that appends its arguments as one line to the log
    script = "import sys; open(sys.argv[1], \'a\').write(\' \'.join(sys.argv[2:]) + \'\\\\n\')"
    echo = f'["{sys.executable}", "-c", "{script}", "{log}"'
    s = write(tmp_path, NODE + '[leader]\nurl = "http://{host}:{port}/s"\nfield = "leader"\n'
                              f'transfer = {echo}, "transfer", "{{id}}", "{{host}}:{{port}}", "from", "{{leader}}"]\n'
                              f'[membership]\nremove = {echo}, "remove", "{{id}}", "{{data_dir}}", "via", '
                              f'"{{leader_host}}:{{leader_port}}"]\n'
                              f'add = {echo}, "add", "{{id}}", "{{metrics_port}}"]\n'
                              + CLIENT)
    assert s.admin_actions == {"remove_member", "add_member", "transfer_leader"}
    a = addresses()
    s.admin("remove_member", a, "1", "3")
    s.admin("add_member", a, "1", "3")
    s.admin("transfer_leader", a, "1", "2")
    assert log.read_text().splitlines() == ["remove 3 /data/3 via 127.0.0.1:8001", "add 3 9100",
                                            "transfer 2 127.0.0.2:8002 from 1"]
    with pytest.raises(RuntimeError, match=r"transfer leader of node 2: .*\{leader\} has no value"):
        s.admin("transfer_leader", a, None, "2")
    failing = write(tmp_path, NODE + f'[membership]\nremove = ["{sys.executable}", "-c", "import sys; '
                                     f'sys.exit(\'member 3 not found\')"]\nadd = "true"\n' + CLIENT)
    with pytest.raises(RuntimeError, match="remove member of node 3: exit 1: member 3 not found"):
        failing.admin("remove_member", a, "1", "3")


def test_every_key_the_parser_accepts_is_in_the_guide():
    import inspect
    import pathlib
    import re

    from splitbrain.systems import described
    from workloads.clients import client_class
    from workloads.clients.httpjson_templated import SPEC_KEYS
    from workloads.clients.process import OPTIONS

    guide = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "testing-your-system.md").read_text()
    table = guide[guide.index("## Every key of a system file"):guide.index("## Examples")]
    rows = [line.split("|") for line in table.splitlines() if line.startswith("| ")]
    listed = {(r[1].strip().strip("`[]"), key.strip("` ")) for r in rows for key in r[2].split(",")}
    tables = {"(top)": described.TOP_KEYS - {"node", "ready", "leader", "membership", "client"},
              "node": described.NODE_KEYS, "ready": described.READY_KEYS, "leader": described.LEADER_KEYS,
              "membership": described.MEMBERSHIP_KEYS}
    redis = set(inspect.signature(client_class("redis")).parameters) - {"endpoints", "timeout", "read_mode", "start"}
    tables["client"] = set(SPEC_KEYS) | set(OPTIONS) | redis
    missing = sorted(f"{t}.{k}" for t, keys in tables.items() for k in keys if (t, k) not in listed)
    assert not missing, missing
    assert re.search(r"\{NAME_port\}", guide) and "[node.ports]" in guide
