"""kubeconform and the Kubernetes JSON schemas it checks against, both without the network.

kubeconform is built from its Go module (the Go module proxy is reachable; its schema
download site is not). The schemas come from the PyPI package kubernetes-validate, which
ships the official per-kind JSON schemas of every recent Kubernetes release; they point
into a shared `_definitions.json` under their `https://kubernetes.io/api/` $id; we drop
the $id and make the reference relative, so kubeconform resolves it from the local directory.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

KUBECONFORM_VERSION = "v0.7.0"
KUBERNETES_VERSION = "1.33.0"


def kubeconform() -> Path:
    """The pinned kubeconform: $KUBECONFORM, else the venv's, else built into the venv by `go install`."""
    if os.environ.get("KUBECONFORM"):
        return Path(os.environ["KUBECONFORM"])
    gobin = Path(sys.executable).parent
    exe = gobin / "kubeconform"
    if exe.exists():
        out = subprocess.run([exe, "-v"], capture_output=True, text=True).stdout.strip()
        if out == KUBECONFORM_VERSION:
            return exe
    go = shutil.which("go")
    if go is None:
        raise RuntimeError("kubeconform is not installed and there is no Go toolchain to build it")
    subprocess.run([go, "install", f"github.com/yannh/kubeconform/cmd/kubeconform@{KUBECONFORM_VERSION}"],
                   env={**os.environ, "GOBIN": str(gobin)}, check=True, capture_output=True, timeout=600)
    return exe


def write_schemas(dest: Path, version: str = KUBERNETES_VERSION) -> str:
    """Strict schemas for `version` in dest; -> the -schema-location template for kubeconform."""
    import kubernetes_validate
    src = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{version}-local-strict"
    if not src.is_dir():
        raise RuntimeError(f"kubernetes-validate ships no schemas for {version} (looked in {src})")
    dest.mkdir(parents=True, exist_ok=True)
    for f in src.glob("*.json"):
        schema = json.loads(f.read_text().replace('"/api/_definitions.json#', '"_definitions.json#'))
        # without its https://kubernetes.io/... $id, a relative $ref resolves next to the file
        schema.pop("$id", None)
        (dest / f.name).write_text(json.dumps(schema))
    return str(dest / "{{ .ResourceKind }}{{ .KindSuffix }}.json")
