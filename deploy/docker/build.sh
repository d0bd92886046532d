#!/usr/bin/env bash
# Build the node image without any registry (wheels made on the host, a debootstrapped base)
# and print its tag, splitbrain-node:<content hash>; reused while reference_kv/ is unchanged.
# usage: deploy/docker/build.sh [--rebuild]
set -euo pipefail
cd "$(dirname "$0")/../.."
exec "${PYTHON:-.venv/bin/python}" -m nemesis.images "$@"
