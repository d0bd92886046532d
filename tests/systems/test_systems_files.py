"""System files: loading, one-line errors naming the key, placeholders, client specs."""
from __future__ import annotations

import subprocess
import sys

import pytest

from nemesis.types import Addr, NodeAddresses
from splitbrain import systems
from splitbrain.errors import UsageError
from splitbrain.systems.described import load
from splitbrain.systems.template import TemplateError, render

from .helpers import EXAMPLES, REPO

pytestmark = pytest.mark.unit

MINIMAL = '[node]\ncommand = "srv --port {port}"\n[client]\nprotocol = "etcd"\n'


def write(tmp_path, text, name="system.toml"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize("text, key, expected", [
    ("name = 3\n" + MINIMAL, "name", "expected a string"),
    ("nodes = 0\n" + MINIMAL, "nodes", "an integer at least 1"),
    ("colour = 1\n" + MINIMAL, "colour", "unknown key"),
    ('[client]\nprotocol = "etcd"\n', "node", "missing"),
    ('[node]\ncommand = "x {bogus}"\n[client]\nprotocol = "etcd"\n', "node.command", "{bogus}"),
    ('[node]\ncommand = []\n[client]\nprotocol = "etcd"\n', "node.command", "non-empty"),
    ('[node]\ncommand = "x"\nenv = { A = 1 }\n[client]\nprotocol = "etcd"\n', "node.env.A", "expected a string"),
    ('[node]\ncommand = "x"\nenv = { "A$(id)" = "1" }\n[client]\nprotocol = "etcd"\n', "node.env.A$(id)",
     "not a variable name"),
    (MINIMAL + '[ready]\nprobe = "ping"\n', "ready.probe", "tcp, http or redis"),
    (MINIMAL + '[ready]\nprobe = "http"\n', "ready.url", "missing"),
    (MINIMAL + '[leader]\nurl = "http://{host}:{port}/s"\n', "leader.field", "missing"),
    ('[node]\ncommand = "x"\n[client]\nprotocol = "mongo"\n', "client.protocol", "python:module:Class"),
    ('[node]\ncommand = "x"\n[client]\nprotocol = "python:no_such_module_here:C"\n', "client.protocol",
     "cannot import"),
    ('[node]\ncommand = "x"\n[client]\nprotocol = "redis"\nsentinels = "{nope}"\n', "client.sentinels", "{nope}"),
    ('[node]\ncommand = "x"\n[client]\nprotocol = "http-json"\n[client.routes.read]\npath = "/kv/{key}"\n',
     "client.routes.write", "missing"),
    ('[node]\ncommand = "x"\n[client]\nprotocol = "http-json"\n[client.routes.read]\npath = "kv"\n'
     '[client.routes.write]\npath = "/kv/{key}"\n', "client.routes.read.path", "starting with /"),
    ('[node]\ncommand = "x"\n[client]\nprotocol = "http-json"\n[client.routes.read]\npath = "/k"\n'
     '[client.routes.write]\npath = "/k"\nbody = "{value"\n', "client.routes.write.body", "JSON"),
    ('[node]\ncommand = "x"\n[client]\nprotocol = "http-json"\nabsent = ["404"]\n[client.routes.read]\n'
     'path = "/k"\n[client.routes.write]\npath = "/k"\n', "client.absent", "status codes"),
    ("[node\n", "not valid TOML", ""),
    # a client's options are its own: a key it does not take, or a value not of its kind (a NaN refresh
    # never asked the Sentinels again), was accepted and met only by every load user, at run time
    ('[node]\ncommand = "x"\nports = nan\n[client]\nprotocol = "etcd"\n', "node.ports", "a table"),  # was a TypeError
    ('[node]\ncommand = "x"\n[client]\nprotocol = "redis"\nrefresh = nan\n', "client.refresh", "seconds"),
    ('[node]\ncommand = "x"\n[client]\nprotocol = "redis"\nrefresh = -1\n', "client.refresh", "seconds"),
    ('[node]\ncommand = "x"\n[client]\nprotocol = "redis"\nmaster = 3\n', "client.master", "a string"),
    ('[node]\ncommand = "x"\n[client]\nprotocol = "redis"\nsentinels = [1]\n', "client.sentinels", "addresses"),
    ('[node]\ncommand = "x"\n[client]\nprotocol = "redis"\nbogus = inf\n', "client.bogus", "unknown key"),
    ('[node]\ncommand = "x"\n[client]\nprotocol = "etcd"\nrefresh = 1\n', "client.refresh", "unknown key"),
    ('[node]\ncommand = "x"\n[client]\nprotocol = "reference-kv"\ntimeout = 1\n', "client.timeout",
     "unknown key"),
])
def test_a_bad_file_is_one_line_naming_the_key(tmp_path, text, key, expected):
    path = write(tmp_path, text)
    with pytest.raises(UsageError) as e:
        systems.create(path)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: {key}"), msg
    assert expected in msg


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(UsageError, match="no such system file"):
        systems.create(str(tmp_path / "absent.toml"))


def test_the_cli_exits_2_with_one_line_and_no_traceback(tmp_path):
    path = write(tmp_path, '[node]\ncommand = "x"\n[client]\nprotocol = 7\n')
    r = subprocess.run([sys.executable, "-m", "splitbrain", "run", "--system", path, "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=60, cwd=REPO)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0, r.stderr
    assert "client.protocol: expected one of" in r.stderr
    assert "Traceback" not in r.stderr


def test_system_knobs_are_refused_by_systems_that_do_not_declare_them():
    with pytest.raises(UsageError, match="--unsafe-bug does not apply to system etcd"):
        systems.create("etcd", {"unsafe_bug": "x"})
    with pytest.raises(UsageError, match="--snapshot-every does not apply to system redis"):
        systems.create(str(EXAMPLES / "redis.toml"), {"snapshot_every": 5})
    assert systems.create("reference-kv", {"snapshot_every": 5}).snapshot_every == 5


def test_every_example_loads():
    found = sorted(EXAMPLES.glob("*.toml"))
    assert {p.name for p in found} >= {"etcd.toml", "redis.toml", "redis-sentinel.toml", "testkv.toml"}
    for p in found:
        assert systems.create(str(p)).node_specs(3)


def test_placeholders_render_and_unknown_ones_are_named():
    assert render("{a}-{{b}}", {"a": 1}) == "1-{b}"
    with pytest.raises(TemplateError, match=r"\{c\}"):
        render("{c}", {"a": 1})


def _addresses(n: int) -> dict[str, NodeAddresses]:
    clients = {str(i): Addr(f"10.0.0.{i}", 8000) for i in range(1, n + 1)}
    peers = {str(i): Addr(f"10.0.0.{i}", 9000) for i in range(1, n + 1)}
    return {k: NodeAddresses(id=k, host=clients[k].host, client=clients[k], peer=peers[k],
                             dial={j: Addr("127.0.0.9", 7000 + int(j)) for j in peers}, cluster=peers,
                             clients=clients, data_dir=f"/d/{k}", python="py") for k in clients}


def test_command_placeholders_give_each_node_its_view():
    system = load(EXAMPLES / "etcd.toml")
    spec = system.node_specs(3)[1]
    argv = spec.argv(_addresses(3)["2"])
    assert argv[:3] == ["etcd", "--name", "n2"]
    cluster = argv[argv.index("--initial-cluster") + 1]
    assert cluster == "n1=http://10.0.0.1:9000,n2=http://10.0.0.2:9000,n3=http://10.0.0.3:9000"
    assert "http://10.0.0.2:8000" in argv


def test_sh_commands_keep_their_text_and_get_quorum_and_first_node(tmp_path):
    system = load(EXAMPLES / "redis-sentinel.toml")
    argv = system.node_specs(3)[2].argv(_addresses(3)["3"])
    assert argv[:2] == ["sh", "-c"]
    script = argv[2]
    assert "sentinel monitor mymaster 10.0.0.1 8000 2" in script
    assert "--bind 10.0.0.3 --port 8000" in script


def test_client_spec_fills_addresses_and_refuses_unknown_peers_of_external_clusters():
    system = load(EXAMPLES / "redis-sentinel.toml")
    spec = system.client_spec(_addresses(3), managed=True)
    assert spec["sentinels"] == "10.0.0.1:9000,10.0.0.2:9000,10.0.0.3:9000"
    with pytest.raises(ValueError, match="client.sentinels.*--endpoints"):
        system.client_spec(_addresses(3), managed=False)
    http = load(EXAMPLES / "testkv.toml").client_spec(_addresses(1), managed=True)
    assert http["routes"]["read"]["path"] == "/kv/{key}"  # filled per request, not here


def test_a_python_clients_directory_is_appended_to_sys_path_not_put_first(tmp_path):
    """A module beside the system file that shares a real module's name must not shadow it."""
    (tmp_path / "my_client.py").write_text((REPO / "tests" / "systems" / "userclient.py").read_text())
    (tmp_path / "colorsys.py").write_text("raise ImportError('the system file directory shadowed colorsys')\n")
    toml = tmp_path / "system.toml"
    toml.write_text('[node]\ncommand = "x"\n[client]\nprotocol = "python:my_client:TestKVClient"\n')
    code = ("import sys; from splitbrain import systems; systems.create(sys.argv[1]); import colorsys, my_client; "
            "print(colorsys.__file__); print(sys.path.index(sys.argv[2]) == len(sys.path) - 1)")
    r = subprocess.run([sys.executable, "-c", code, str(toml), str(tmp_path)], capture_output=True, text=True,
                       cwd=REPO, timeout=60)
    assert r.returncode == 0, r.stderr[-1500:]
    where, last = r.stdout.split()
    assert not where.startswith(str(tmp_path)) and last == "True", r.stdout
