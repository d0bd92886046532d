"""The Kubernetes manifests: valid against the API's schemas (kubeconform, offline) and consistent
with each other and with the node's command line."""
from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from reference_kv import admin, admintoken, k8s_secrets, tls
from reference_kv.__main__ import build_parser as node_parser
from reference_kv.discovery import expand_argv

from .k8s_tools import KUBERNETES_VERSION, kubeconform, write_schemas

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"


@pytest.fixture(scope="session")
def validate(tmp_path_factory):
    """-> run(paths or YAML text) -> CompletedProcess of `kubeconform -strict -summary` on them."""
    exe = kubeconform()
    location = write_schemas(tmp_path_factory.mktemp("schemas"))

    def run(*paths: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
        argv = [str(exe), "-strict", "-summary", "-kubernetes-version", KUBERNETES_VERSION,
                "-schema-location", location, "-skip", "Kustomization"]
        argv += [str(p) for p in paths] if stdin is None else ["-"]
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60)
    return run


def load(name: str) -> dict:
    return yaml.safe_load((K8S / name).read_text())


def docs() -> dict[str, dict]:
    return {d["kind"] + "/" + d["metadata"]["name"]: d
            for f in sorted(K8S.glob("*.yaml")) if f.name != "kustomization.yaml"
            for d in yaml.safe_load_all(f.read_text()) if d}


# --- schema validation --------------------------------------------------------------------

@pytest.mark.integration
def test_manifest_files_are_valid(validate):
    r = validate(K8S)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Valid: 5, Invalid: 0, Errors: 0, Skipped: 1" in r.stdout  # 5 objects + the kustomization


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (for kustomize) not installed")
def test_kustomize_output_is_valid(validate, tmp_path):
    k8s = tmp_path / "k8s"
    shutil.copytree(K8S, k8s, ignore=shutil.ignore_patterns("secrets"))
    k8s_secrets.generate(k8s / "secrets")  # what the README says to run first
    rendered = subprocess.run(["kubectl", "kustomize", str(k8s)], capture_output=True, text=True, timeout=60)
    assert rendered.returncode == 0, rendered.stderr
    objs = list(yaml.safe_load_all(rendered.stdout))
    kinds = sorted(d["kind"] for d in objs)
    assert kinds == ["NetworkPolicy", "PodDisruptionBudget", "Secret", "Secret", "Service", "Service", "StatefulSet"]
    assert "image: splitbrain-node:latest" in rendered.stdout
    r = validate(stdin=rendered.stdout)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Valid: 7, Invalid: 0, Errors: 0" in r.stdout
    # the generated Secrets (their names carry a hash) are the ones the pods mount, with the files the node reads
    secrets = {d["metadata"]["name"]: d for d in objs if d["kind"] == "Secret"}
    (sts,) = [d for d in objs if d["kind"] == "StatefulSet"]
    volumes = {v["name"]: v["secret"]["secretName"] for v in sts["spec"]["template"]["spec"]["volumes"] if "secret" in v}
    assert set(volumes.values()) == set(secrets)
    assert sorted(secrets[volumes["peer-tls"]]["data"]) == ["ca.crt", "tls.crt", "tls.key"]
    assert sorted(secrets[volumes["admin-token"]]["data"]) == ["token"]


def _broken(tmp_path: Path, name: str, old: str, new: str) -> Path:
    text = (K8S / name).read_text()
    assert old in text
    out = tmp_path / name
    out.write_text(text.replace(old, new, 1))
    return out


@pytest.mark.integration
@pytest.mark.parametrize("name, old, new, complaint", [
    ("statefulset.yaml", "  replicas: 3", "  replicas: three", "replicas"),                    # wrong type
    ("statefulset.yaml", "imagePullPolicy: IfNotPresent", "imagePullPolicyy: IfNotPresent",
     "additional properties 'imagePullPolicyy'"),                                             # strict: unknown field
    ("statefulset.yaml", "        - name: node\n", "        - \n", "missing property 'name'"),  # required field
    ("pdb.yaml", "  maxUnavailable: 1\n", "  maxUnavailable: 1\n  maxUnavailable: 2\n", "maxUnavailable"),  # dup key
    ("service-headless.yaml", "kind: Service", "kind: Servicee", "could not find schema"),   # no silent skip
])
def test_a_broken_copy_is_rejected(validate, tmp_path, name, old, new, complaint):
    r = validate(_broken(tmp_path, name, old, new))
    assert r.returncode == 1, r.stdout
    assert complaint in r.stdout + r.stderr


# --- the objects agree with each other -----------------------------------------------------

def _container(sts: dict) -> dict:
    (c,) = sts["spec"]["template"]["spec"]["containers"]
    return c


PEER_TLS_MOUNT = "/etc/reference-kv/peer-tls"


@pytest.fixture(scope="module")
def secrets_dir(tmp_path_factory) -> Path:
    """What the Secrets hold, as the pods see them mounted."""
    d = tmp_path_factory.mktemp("secrets")
    k8s_secrets.generate(d)
    return d


def _node_argv(sts: dict, pod: str, secrets: Path | None = None) -> list[str]:
    """The node's command line in pod `pod`; with `secrets`, the mounted Secrets' paths point there."""
    c = _container(sts)
    assert c["command"] == ["python", "-m", "reference_kv.discovery"]
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    argv = [a.replace("$(POD_NAME)", pod) for a in c["args"]]
    if secrets is not None:
        argv = [a.replace(mounts["peer-tls"], str(secrets / "peer-tls")).replace(mounts["admin-token"],
                                                                                  str(secrets / "admin"))
                for a in argv]
    return argv


@pytest.mark.unit
def test_objects_select_the_same_pods():
    objs = docs()
    sts, headless, client, pdb = (objs["StatefulSet/kv"], objs["Service/kv"], objs["Service/kv-client"],
                                  objs["PodDisruptionBudget/kv"])
    labels = sts["spec"]["template"]["metadata"]["labels"]
    for selector in (sts["spec"]["selector"]["matchLabels"], headless["spec"]["selector"],
                     client["spec"]["selector"], pdb["spec"]["selector"]["matchLabels"]):
        assert selector.items() <= labels.items()
    assert sts["spec"]["serviceName"] == headless["metadata"]["name"]
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["publishNotReadyAddresses"] is True
    assert "publishNotReadyAddresses" not in client["spec"]  # clients reach ready pods only
    kust = load("kustomization.yaml")
    assert sorted(kust["resources"]) == sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


@pytest.mark.unit
def test_statefulset_keeps_a_quorum_through_updates(secrets_dir):
    sts = docs()["StatefulSet/kv"]
    spec = sts["spec"]
    replicas = spec["replicas"]
    assert spec["podManagementPolicy"] == "Parallel"
    assert spec["updateStrategy"]["type"] == "RollingUpdate"
    assert "maxUnavailable" not in spec["updateStrategy"].get("rollingUpdate", {})  # one pod at a time
    pdb = docs()["PodDisruptionBudget/kv"]["spec"]
    quorum = replicas // 2 + 1
    assert replicas - pdb.get("maxUnavailable", replicas - pdb.get("minAvailable", 0)) >= quorum
    assert [t["metadata"]["name"] for t in spec["volumeClaimTemplates"]] == ["data"]
    mounts = {m["name"]: m["mountPath"] for m in _container(sts)["volumeMounts"]}
    args = node_parser().parse_args(expand_argv(_node_argv(sts, "kv-0", secrets_dir),
                                                resolver=lambda n: "10.0.0.1"))
    assert args.data_dir.startswith(mounts["data"] + "/")


@pytest.mark.unit
def test_container_command_line_is_what_the_node_accepts(secrets_dir):
    sts = docs()["StatefulSet/kv"]
    replicas = sts["spec"]["replicas"]
    ports = {p["name"]: p["containerPort"] for p in _container(sts)["ports"]}
    asked = []
    for ordinal in range(replicas):
        argv = expand_argv(_node_argv(sts, f"kv-{ordinal}", secrets_dir),
                           resolver=lambda n: asked.append(n) or "10.0.0.1")
        args = node_parser().parse_args(argv)
        assert args.id == ordinal + 1
        assert args.listen.endswith(f":{ports['client']}") and args.peer_listen.endswith(f":{ports['peer']}")
        assert sorted(args.peers) == list(range(1, replicas + 1))  # --replicas agrees with spec.replicas
        assert args.peers[1] == f"kv-0.{sts['spec']['serviceName']}:{ports['peer']}"
        assert args.peer_clients[replicas] == f"kv-{replicas - 1}.{sts['spec']['serviceName']}:{ports['client']}"
    assert set(asked) == {f"kv-{i}.kv" for i in range(replicas)}


@pytest.mark.unit
def test_probes_and_prestop():
    sts = docs()["StatefulSet/kv"]
    pod = sts["spec"]["template"]["spec"]
    c = _container(sts)
    client_port = next(p["containerPort"] for p in c["ports"] if p["name"] == "client")
    for probe in ("startupProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/status", "port": "client"}
    # the startup probe outlasts the discovery wait, or liveness kills pods still waiting for DNS
    dns_timeout = float(next(a.split("=", 1)[1] for a in c["args"] if a.startswith("--dns-timeout=")))
    startup = c["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] > dns_timeout

    ready = c["readinessProbe"]["exec"]["command"]
    assert ready[:3] == ["python", "-m", "reference_kv.admin"]
    r = admin.build_parser().parse_args(ready[3:])
    assert r.command == "ready" and r.address == f"127.0.0.1:{client_port}"
    assert r.timeout < c["readinessProbe"]["timeoutSeconds"]

    pre = c["lifecycle"]["preStop"]["exec"]["command"]
    assert pre[:3] == ["python", "-m", "reference_kv.admin"], shlex.join(pre)
    s = admin.build_parser().parse_args(pre[3:])
    assert s.command == "step-down" and s.address == f"127.0.0.1:{client_port}"
    assert s.peers_dns == sts["spec"]["serviceName"] and s.replicas == sts["spec"]["replicas"]
    # the hand-off, then a clean shutdown, fit in the grace period
    assert pod["terminationGracePeriodSeconds"] >= s.timeout + 20


# --- security: only the client API is exposed; TLS and the token are wired -------------------

def _args(secrets: Path):
    from reference_kv.__main__ import security_error
    args = node_parser().parse_args(expand_argv(_node_argv(docs()["StatefulSet/kv"], "kv-0", secrets),
                                                resolver=lambda n: "10.0.0.1"))
    assert security_error(args) is None  # what the node itself checks before it starts
    return args


@pytest.mark.unit
def test_only_the_client_api_is_exposed(secrets_dir):
    objs = docs()
    c = _container(objs["StatefulSet/kv"])
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    args = _args(secrets_dir)
    admin_host, _, admin_port = args.admin_listen.rpartition(":")
    assert admin_host == "127.0.0.1"  # the pod's loopback: kubectl exec and the preStop hook only
    assert int(admin_port) not in ports.values() and "admin" not in ports
    assert [p["targetPort"] for p in objs["Service/kv-client"]["spec"]["ports"]] == ["client"]
    assert sorted(p["targetPort"] for p in objs["Service/kv"]["spec"]["ports"]) == ["client", "peer"]
    policy = objs["NetworkPolicy/kv"]["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= objs["StatefulSet/kv"]["spec"]["template"]["metadata"][
        "labels"].items()
    rules = {tuple(p["port"] for p in r["ports"]): r.get("from") for r in policy["ingress"]}
    assert rules[("client",)] is None  # open: clients
    assert rules[("peer",)] == [{"podSelector": policy["podSelector"]}]  # the set's own pods only


@pytest.mark.unit
def test_peer_tls_and_the_admin_token_are_wired(secrets_dir):
    sts = docs()["StatefulSet/kv"]
    c = _container(sts)
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    args = _args(secrets_dir)
    assert args.peer_tls is not None and not args.peer_plaintext
    assert args.peer_tls.ca.parent == secrets_dir / "peer-tls"  # the mount of the peer-tls Secret
    args.peer_tls.client_context()
    assert args.admin["admin_token"] == admintoken.read_file(secrets_dir / "admin" / "token")
    gen = {g["name"]: g["files"] for g in load("kustomization.yaml")["secretGenerator"]}
    for name, files in (("peer-tls", [tls.CA_CERT, tls.CERT, tls.KEY]), ("admin-token", ["token"])):
        assert mounts[name]["readOnly"] is True
        secret = volumes[name]["secret"]["secretName"]
        assert sorted(Path(f).name for f in gen[secret]) == sorted(files)
    # the preStop hook reaches the admin API where the node serves it, with the same token
    pre = admin.build_parser().parse_args(c["lifecycle"]["preStop"]["exec"]["command"][3:])
    raw = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in c["args"] if "=" in a}
    assert pre.admin_address == raw["--admin-listen"] and pre.admin_token_file == raw["--admin-token-file"]


@pytest.mark.unit
def test_the_secrets_generator_keeps_what_exists(tmp_path, capsys):
    assert k8s_secrets.main([str(tmp_path / "s")]) == 0
    ca = (tmp_path / "s" / "ca" / "ca.key").read_bytes()
    assert k8s_secrets.main([str(tmp_path / "s")]) == 2
    assert "exists" in capsys.readouterr().err
    assert (tmp_path / "s" / "ca" / "ca.key").read_bytes() == ca
    assert oct((tmp_path / "s" / "admin" / "token").stat().st_mode & 0o777) == "0o600"
