#!/usr/bin/env bash
# Builds the wheels the container installs: the generated client stubs and the gateway (with the sandbox).
# The Dockerfile's builder stage runs exactly this script, and CI runs it outside Docker
# (deploy/docker/smoke.sh), so the image's build steps are exercised on every change.
set -euo pipefail
src=${1:?usage: build-wheels.sh SRC_DIR OUT_DIR}
out=${2:?usage: build-wheels.sh SRC_DIR OUT_DIR}
py=${PYTHON:-python3}
mkdir -p "$out"
"$py" -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir "$out" "$src/client_stubs"
"$py" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$out" --find-links "$out" "$src"
