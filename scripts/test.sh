#!/usr/bin/env bash
# The test command: set up everything, lint, then run the whole suite against the real services.
# Extra arguments go to pytest (e.g. scripts/test.sh -k dateline).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

scripts/bootstrap.sh
command -v docker-compose >/dev/null || {
  # The compose file is validated by a real compose implementation; Debian's needs no engine.
  echo "test: installing docker-compose from Debian's packages" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-compose >/dev/null 2>&1 || {
    $SUDO apt-get update -q >/dev/null && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-compose >/dev/null; }
}
[ -x /usr/bin/chromium ] || {
  # The browser tests drive Debian's Chromium through Playwright (whose own download fails here).
  echo "test: installing chromium from Debian's packages" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || {
    $SUDO apt-get update -q >/dev/null && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
}

command -v promtool >/dev/null || {
  # /metrics is checked by Prometheus's own linter; only promtool is taken out of Debian's
  # prometheus package (no daemon installed).
  echo "test: installing promtool from Debian's prometheus package" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi
  tmp=$(mktemp -d)
  (cd "$tmp" && { apt-get download prometheus >/dev/null 2>&1 || { $SUDO apt-get update -q >/dev/null && apt-get download prometheus >/dev/null; }; } \
    && dpkg-deb -x prometheus_*.deb x) && $SUDO install -m 755 "$tmp/x/usr/bin/promtool" /usr/local/bin/promtool
  rm -rf "$tmp"
}

services_were_up=0
scripts/services.sh status && services_were_up=1
scripts/services.sh start
stop_services() { [ "$services_were_up" -eq 1 ] || scripts/services.sh stop; }
trap stop_services EXIT

echo "test: lint (ruff, mypy)" >&2
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy

echo "test: pytest" >&2
HF_HUB_OFFLINE=1 .venv/bin/python -m pytest "$@"
