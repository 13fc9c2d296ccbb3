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

# tests/test_text_wire.py reads the Reuters 1987 stories of Debian's r-cran-tm, fetched with
# `apt-get download` at the version quality/sources.py pins: apt must know that version.
TM_VERSION=$(sed -n 's/^TM_VERSION = "\(.*\)"$/\1/p' quality/sources.py)
apt-cache show "r-cran-tm=$TM_VERSION" >/dev/null 2>&1 || {
  if [ "$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -q >/dev/null
}

# tests/test_accessibility.py runs axe-core (npm) in Chromium on every page: its axe.min.js is
# taken out of the pinned npm package, into the cache, and checked against this hash.
AXE_VERSION=4.14.1
AXE_SHA256=29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c
if [ "$(id -u)" -eq 0 ]; then AXE_CACHE=/var/cache/newsroom; else AXE_CACHE=$HOME/.cache/newsroom; fi
AXE_DIR=${NEWSROOM_CACHE_DIR:-$AXE_CACHE}/axe-core
AXE_JS=$AXE_DIR/axe-$AXE_VERSION.min.js
if ! echo "$AXE_SHA256  $AXE_JS" | sha256sum --check --status 2>/dev/null; then
  command -v npm >/dev/null || {
    echo "test: installing npm from Debian's packages" >&2
    if [ "$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm >/dev/null 2>&1 || {
      $SUDO apt-get update -q >/dev/null && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm >/dev/null; }
  }
  echo "test: fetching axe-core $AXE_VERSION (npm pack)" >&2
  mkdir -p "$AXE_DIR"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "axe-core@$AXE_VERSION" >/dev/null \
    && tar -xzf "axe-core-$AXE_VERSION.tgz" package/axe.min.js)
  echo "$AXE_SHA256  $tmp/package/axe.min.js" | sha256sum --check --status || {
    echo "test: axe-core $AXE_VERSION's axe.min.js does not match its pinned sha256" >&2; rm -rf "$tmp"; exit 1; }
  mv "$tmp/package/axe.min.js" "$AXE_JS"
  rm -rf "$tmp"
fi

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
HF_HUB_OFFLINE=1 .venv/bin/python -m pytest --durations=40 "$@"
