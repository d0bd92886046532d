#!/usr/bin/env bash
# Build the node image without any registry: wheels on the host, a debootstrapped base, docker build.
# usage: deploy/docker/build.sh [TAG]   (default splitbrain-node:latest)
set -euo pipefail
cd "$(dirname "$0")/../.."
TAG=${1:-splitbrain-node:latest}
PY=${PYTHON:-.venv/bin/python}
rm -rf deploy/wheels && mkdir -p deploy/wheels
# compiled parts first, so the wheel carries them
"$PY" -m reference_kv.storage.build
"$PY" -m pip wheel --no-deps -w deploy/wheels .
"$PY" -m pip download -d deploy/wheels --only-binary=:all: --python-version 3.11 cffi msgpack
BASE=$("$PY" -c 'from nemesis.backends.docker import ensure_base_image as e; print(e())')
docker build -f deploy/Dockerfile --build-arg BASE="$BASE" -t "$TAG" .
echo "$TAG"
