"""Docker images for nodes, built locally (containers may reach no registry).

`ensure_base_image()` debootstraps a minimal Debian bookworm with python3 and
iptables and imports it, once per tag. `ensure_node_image()` returns
`splitbrain-node:<hash>` where the hash covers what the node runs
(reference_kv/ with the compiled Pebble shim, the packaging files and
deploy/Dockerfile), so an unchanged tree reuses the image and a changed one gets a
new tag. The build never touches the working tree: the sources are copied to a
temp dir, the wheel is built there (`pip wheel`, which compiles the checker's cffi
extension too), the node's runtime dependencies are fetched as wheels on the host
(containers may reach no index) and `deploy/Dockerfile` installs them on the
debootstrapped base. The wheel is checked for its two shared objects before use.

    python -m nemesis.images                # build the node image if needed, print the tag
"""
from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import zipfile

from .backends.host import BackendError

REPO = pathlib.Path(__file__).resolve().parent.parent
REPOSITORY = "splitbrain-node"
NODE_DEPENDENCIES = ("cffi", "msgpack", "httptools", "prometheus_client")  # the client and admin HTTP, /metrics
PACKAGES = ("reference_kv", "checker", "workloads", "nemesis", "splitbrain")
PACKAGING = ("pyproject.toml", "setup.py", "README.md")
# the files a wheel carries (pyproject's package-data) and the shim's sources
SUFFIXES = (".py", ".c", ".h", ".go", ".mod", ".sum", ".so", ".html", ".js", ".css")
# a wheel without these would start a node that fails at its first import
REQUIRED_IN_WHEEL = ("reference_kv/storage/_shim/libpebbleshim.so", "checker/_wgl")
PYTHON = "/opt/splitbrain/bin/python"  # the image's interpreter (deploy/Dockerfile)
BASE_TAG = "splitbrain-base:bookworm"
BASE_PACKAGES = "python3,python3-venv,iptables,iproute2,faketime"


def engine():
    """A connected docker client, or BackendError saying why not."""
    try:
        import docker
        client = docker.from_env(timeout=60)
        client.ping()
        return client
    except Exception as e:
        raise BackendError(f"no Docker engine reachable ({type(e).__name__}: {e})") from None


def ensure_base_image(tag: str = BASE_TAG, mirror: str | None = None) -> str:
    """debootstrap a minimal bookworm with python3 and iptables and `docker import` it, once per tag."""
    client = engine()
    try:
        client.images.get(tag)
        return tag
    except Exception:
        pass
    if shutil.which("debootstrap") is None:
        raise BackendError("building the base image needs debootstrap (Debian package)")
    root = tempfile.mkdtemp(prefix="sb-rootfs-")
    try:
        argv = ["debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", "bookworm", root]
        if mirror:
            argv.append(mirror)
        r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode != 0:
            raise BackendError(f"debootstrap failed: {r.stderr.strip()[-500:]}")
        # apt caches and docs are dead weight on vfs, which copies every layer whole
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
                     "usr/share/locale"):
            shutil.rmtree(os.path.join(root, junk), ignore_errors=True)
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        r = subprocess.run(["docker", "import", "-", tag], stdin=tar.stdout, capture_output=True, text=True)
        tar.wait()
        if r.returncode != 0:
            raise BackendError(f"docker import failed: {r.stderr.strip()}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return tag


def _package_files(root: pathlib.Path) -> list[pathlib.Path]:
    out = []
    for pkg in PACKAGES:
        for p in (root / pkg).rglob("*"):
            if p.is_file() and p.suffix in SUFFIXES and "__pycache__" not in p.parts:
                out.append(p)
    return sorted(out)


def content_hash(root: pathlib.Path = REPO) -> str:
    """Hash of what the node runs: reference_kv/, packaging files, the Dockerfile.

    The suite's own packages are in the wheel too, but a node never imports them, so
    their churn must not force a rebuild."""
    h = hashlib.sha256()
    files = [p for p in _package_files(root) if p.relative_to(root).parts[0] == "reference_kv"]
    files += [root / name for name in PACKAGING if (root / name).exists()]
    files.append(root / "deploy" / "Dockerfile")
    for p in files:
        h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def _run(argv: list[str], what: str, **kw) -> None:
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise BackendError(f"{what} failed: {(r.stderr or r.stdout).strip()[-800:]}")


def check_wheel(path: pathlib.Path) -> None:
    names = zipfile.ZipFile(path).namelist()
    missing = [want for want in REQUIRED_IN_WHEEL if not any(n.startswith(want) for n in names)]
    if missing:
        raise BackendError(f"{path.name} lacks {', '.join(missing)} (is package-data *.so in pyproject.toml?)")


def build_context(ctx: pathlib.Path, root: pathlib.Path = REPO, python: str = sys.executable) -> None:
    """Fill `ctx` with deploy/Dockerfile and deploy/wheels (our wheel + the node's dependencies)."""
    _run([python, "-m", "reference_kv.storage.build"], "building the Pebble shim", cwd=str(root))
    src = ctx / "src"
    for p in _package_files(root) + [root / n for n in PACKAGING if (root / n).exists()]:
        dest = src / p.relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, dest)
    wheels = ctx / "deploy" / "wheels"
    (wheels / "deps").mkdir(parents=True)
    _run([python, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels / "node"), str(src)], "pip wheel")
    ours = sorted((wheels / "node").glob("splitbrain-*.whl"))
    if not ours:
        raise BackendError("pip wheel produced no splitbrain wheel")
    check_wheel(ours[0])
    _run([python, "-m", "pip", "download", "-q", "-d", str(wheels / "deps"), "--only-binary=:all:",
          "--python-version", f"{sys.version_info.major}.{sys.version_info.minor}", *NODE_DEPENDENCIES],
         "fetching the node's dependency wheels")
    shutil.copy2(root / "deploy" / "Dockerfile", ctx / "deploy" / "Dockerfile")
    shutil.rmtree(src)


def _prune(client, keep: str) -> None:
    """Drop older node images: on vfs each is a full copy of its root filesystem."""
    for image in client.images.list(name=REPOSITORY):
        if keep not in image.tags:
            try:
                client.images.remove(image.id, noprune=False)
            except Exception:  # still used by a container of a running test: keep it
                pass
    try:  # a rebuilt tag leaves its predecessor untagged
        client.images.prune(filters={"dangling": True, "label": "splitbrain.image=node"})
    except Exception:
        pass


def ensure_node_image(root: pathlib.Path = REPO, *, rebuild: bool = False) -> str:
    tag = f"{REPOSITORY}:{content_hash(root)}"
    client = engine()
    try:
        if not rebuild:
            try:
                client.images.get(tag)
                return tag
            except Exception:
                pass
        print(f"[nemesis] building the node image {tag} (a minute or two)", file=sys.stderr, flush=True)
        base = ensure_base_image()
        with tempfile.TemporaryDirectory(prefix="sb-image-") as tmp:
            ctx = pathlib.Path(tmp)
            build_context(ctx, root)
            r = subprocess.run(["docker", "build", "-q", "-f", str(ctx / "deploy" / "Dockerfile"),
                                "--build-arg", f"BASE={base}", "-t", tag, str(ctx)],
                               capture_output=True, text=True, env=dict(os.environ, DOCKER_BUILDKIT="0"))
            if r.returncode != 0:
                raise BackendError(f"docker build failed: {(r.stderr or r.stdout).strip()[-800:]}")
        _prune(client, keep=tag)
        return tag
    finally:
        client.close()


def main() -> int:
    try:
        print(ensure_node_image(rebuild="--rebuild" in sys.argv[1:]))
    except BackendError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
