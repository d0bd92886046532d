"""The Kubernetes manifests: valid against the API's schemas (kubeconform, offline) and consistent
with each other and with the node's command line."""
from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from reference_kv import admin
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
    assert "Valid: 4, Invalid: 0, Errors: 0, Skipped: 1" in r.stdout  # 4 objects + the kustomization


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (for kustomize) not installed")
def test_kustomize_output_is_valid(validate):
    rendered = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
    assert rendered.returncode == 0, rendered.stderr
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(rendered.stdout))
    assert kinds == ["PodDisruptionBudget", "Service", "Service", "StatefulSet"]
    assert "image: splitbrain-node:latest" in rendered.stdout
    r = validate(stdin=rendered.stdout)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Valid: 4, Invalid: 0, Errors: 0" in r.stdout


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


def _node_argv(sts: dict, pod: str) -> list[str]:
    c = _container(sts)
    assert c["command"] == ["python", "-m", "reference_kv.discovery"]
    return [a.replace("$(POD_NAME)", pod) for a in c["args"]]


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
def test_statefulset_keeps_a_quorum_through_updates():
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
    args = node_parser().parse_args(expand_argv(_node_argv(sts, "kv-0"), resolver=lambda n: "10.0.0.1"))
    assert args.data_dir.startswith(mounts["data"] + "/")


@pytest.mark.unit
def test_container_command_line_is_what_the_node_accepts():
    sts = docs()["StatefulSet/kv"]
    replicas = sts["spec"]["replicas"]
    ports = {p["name"]: p["containerPort"] for p in _container(sts)["ports"]}
    asked = []
    for ordinal in range(replicas):
        argv = expand_argv(_node_argv(sts, f"kv-{ordinal}"), resolver=lambda n: asked.append(n) or "10.0.0.1")
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
