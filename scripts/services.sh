#!/usr/bin/env bash
# Run the Redis and Elasticsearch that Newsroom needs on this machine, without Docker.
#
#   scripts/services.sh start [redis|elasticsearch]   install what is missing, start (both by
#                                                      default), wait until healthy
#   scripts/services.sh stop [redis|elasticsearch]    stop what this script started
#   scripts/services.sh status [redis|elasticsearch]  exit 0 when they answer
#
# Several copies can run side by side (the fault drills, tests/test_drills.py, start their own):
# give each its own NEWSROOM_STATE_DIR, NEWSROOM_REDIS_PORT and NEWSROOM_ES_PORT. Extra
# Elasticsearch options (static node settings such as -Ethread_pool.write.queue_size=1) go in
# NEWSROOM_ES_EXTRA_OPTS, separated by spaces.
#
# Idempotent: a second start reuses the downloads and the running servers. The Elasticsearch
# version is the one pinned in docker-compose.yml, so both ways of running use the same.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ES_VERSION=$(sed -n 's#^x-elasticsearch-image: *&elasticsearch-image *docker.elastic.co/elasticsearch/elasticsearch:\([0-9][0-9.]*\) *$#\1#p' "$ROOT/docker-compose.yml" | head -n 1)
[ -n "$ES_VERSION" ] || { echo "services: no Elasticsearch image version found in docker-compose.yml" >&2; exit 1; }

if [ "$(id -u)" -eq 0 ]; then
  # Elasticsearch refuses to run as root: it runs as this unprivileged system user, so its
  # files live where that user can reach them (not under /root).
  ES_USER=${NEWSROOM_ES_USER:-newsroom}
  DEFAULT_STATE=/var/lib/newsroom
  DEFAULT_CACHE=/var/cache/newsroom
else
  ES_USER=$(id -un)
  DEFAULT_STATE=${XDG_STATE_HOME:-$HOME/.local/state}/newsroom
  DEFAULT_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/newsroom
fi
STATE_DIR=${NEWSROOM_STATE_DIR:-$DEFAULT_STATE}
CACHE_DIR=${NEWSROOM_CACHE_DIR:-$DEFAULT_CACHE}
REDIS_PORT=${NEWSROOM_REDIS_PORT:-6379}
# Redis refuses writes (OOM) above this instead of growing until the kernel kills it; ingest
# stops taking articles well below it (NEWSROOM_INGEST_REDIS_MEMORY_HIGH_WATER).
REDIS_MAXMEMORY=${NEWSROOM_REDIS_MAXMEMORY:-2gb}
# Optional: Redis then wants this password from every client (give the services
# NEWSROOM_REDIS_URL=redis://:PASSWORD@127.0.0.1:PORT/0). Blank: none (loopback only).
REDIS_PASSWORD=${NEWSROOM_REDIS_PASSWORD:-}
ES_PORT=${NEWSROOM_ES_PORT:-9200}
ES_HEAP=${NEWSROOM_ES_HEAP:-768m}
ES_CLUSTER=${NEWSROOM_ES_CLUSTER_NAME:-newsroom}
ES_NODE=${NEWSROOM_ES_NODE_NAME:-$ES_CLUSTER-local}
# single-node, or multi-node for a node of a cluster (give discovery.seed_hosts, transport.port
# and, on the first start, cluster.initial_master_nodes in NEWSROOM_ES_EXTRA_OPTS).
ES_DISCOVERY=${NEWSROOM_ES_DISCOVERY:-single-node}
read -r -a ES_EXTRA_OPTS <<<"${NEWSROOM_ES_EXTRA_OPTS:-}"
ES_HOME=$CACHE_DIR/elasticsearch-$ES_VERSION
ES_DATA=$STATE_DIR/elasticsearch-$ES_VERSION
REDIS_DIR=$STATE_DIR/redis
ES_URL=http://127.0.0.1:$ES_PORT

log() { printf 'services: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
as_es_user() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$ES_USER" -- "$@"
  else
    "$@"
  fi
}

apt_install() {
  log "installing $* from Debian's packages"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1 || {
    as_root apt-get update -q >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
  }
}

# --- Redis -------------------------------------------------------------------------------------

redis_cli() {
  if [ -n "$REDIS_PASSWORD" ]; then
    REDISCLI_AUTH=$REDIS_PASSWORD redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"
  else
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"
  fi
}
redis_up() { redis_cli ping 2>/dev/null | grep -q PONG; }

start_redis() {
  command -v redis-server >/dev/null || apt_install redis-server
  if redis_up; then log "redis already answering on 127.0.0.1:$REDIS_PORT"; return; fi
  mkdir -p "$REDIS_DIR"
  local config=()
  if [ -n "$REDIS_PASSWORD" ]; then
    # In a file only this user reads, not on the command line (which ps shows to everyone).
    (umask 077 && printf 'requirepass "%s"\n' "$(printf '%s' "$REDIS_PASSWORD" | sed 's/[\\"]/\\&/g')" \
      > "$REDIS_DIR/password.conf")
    config=("$REDIS_DIR/password.conf")
  else
    rm -f "$REDIS_DIR/password.conf"
  fi
  # Archive loads queue hundreds of MB before workers catch up; with the default 64 MB
  # threshold Redis forked an AOF rewrite at every doubling on the way (docs/BENCHMARKS.md).
  redis-server "${config[@]}" --bind 127.0.0.1 --port "$REDIS_PORT" --protected-mode yes \
    --daemonize yes --dir "$REDIS_DIR" --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" \
    --appendonly yes --appendfsync everysec --maxmemory "$REDIS_MAXMEMORY" --maxmemory-policy noeviction --save "" \
    --auto-aof-rewrite-min-size 1gb
  # A large append-only file takes a while to replay (770 MB took 11 s here); Redis answers
  # LOADING meanwhile. Wait while the server lives, up to the timeout, rather than a fixed 5 s
  # (that failed a CI run on a machine whose earlier runs had left a big AOF).
  local waited=0 timeout=${NEWSROOM_REDIS_START_TIMEOUT_S:-300}
  while [ "$waited" -lt $((timeout * 10)) ]; do
    redis_up && { log "redis up on 127.0.0.1:$REDIS_PORT (data in $REDIS_DIR)"; return; }
    if [ "$waited" -gt 20 ] && ! { [ -f "$REDIS_DIR/redis.pid" ] && kill -0 "$(cat "$REDIS_DIR/redis.pid")" 2>/dev/null; }; then
      break
    fi
    [ "$waited" -eq 50 ] && log "redis is loading its data (see $REDIS_DIR/redis.log); waiting up to ${timeout}s"
    sleep 0.1; waited=$((waited + 1))
  done
  log "redis did not start; see $REDIS_DIR/redis.log"; exit 1
}

stop_redis() {
  if [ -f "$REDIS_DIR/redis.pid" ] && redis_up; then
    redis_cli shutdown >/dev/null 2>&1 || true
    log "redis stopped"
  fi
  rm -f "$REDIS_DIR/redis.pid"
}

# --- Elasticsearch -----------------------------------------------------------------------------

es_health() { curl -fsS --max-time 3 "$ES_URL/_cluster/health" 2>/dev/null; }
es_up() { es_health | grep -Eq '"status":"(green|yellow)"'; }

find_java() {
  # Elasticsearch 9 needs Java 21 or later; take the newest JDK in /usr/lib/jvm.
  local best="" best_major=0 java major
  for java in /usr/lib/jvm/*/bin/java; do
    [ -x "$java" ] || continue
    major=$("$java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p')
    if [ -n "$major" ] && [ "$major" -ge 21 ] && [ "$major" -gt "$best_major" ]; then
      best=${java%/bin/java}; best_major=$major
    fi
  done
  [ -n "$best" ] || { log "no JDK >= 21 under /usr/lib/jvm (apt-get install openjdk-21-jdk-headless or similar)"; exit 1; }
  echo "$best"
}

install_es() {
  [ -x "$ES_HOME/bin/elasticsearch" ] && return
  command -v mvn >/dev/null || apt_install maven
  command -v unzip >/dev/null || apt_install unzip
  log "fetching Elasticsearch $ES_VERSION (integ-test-zip) from Maven Central"
  local artifact=org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION:zip
  # A repository of our own, so the zip's path is known whatever ~/.m2/settings.xml says.
  local repo=$CACHE_DIR/m2 zip tmp
  mkdir -p "$CACHE_DIR"
  mvn -B -Dmaven.repo.local="$repo" dependency:get -Dartifact="$artifact" -Dtransitive=false \
    >"$CACHE_DIR/mvn.log" 2>&1 || { tail -n 30 "$CACHE_DIR/mvn.log" >&2; log "mvn failed (log: $CACHE_DIR/mvn.log)"; exit 1; }
  zip=$repo/org/elasticsearch/distribution/integ-test-zip/elasticsearch/$ES_VERSION/elasticsearch-$ES_VERSION.zip
  [ -f "$zip" ] || { log "download failed: $zip not found"; exit 1; }
  mkdir -p "$CACHE_DIR"
  tmp=$(mktemp -d "$CACHE_DIR/unpack.XXXXXX")
  unzip -q "$zip" -d "$tmp"
  mv "$tmp/elasticsearch-$ES_VERSION" "$ES_HOME"
  rmdir "$tmp"
}

ensure_es_user() {
  [ "$(id -u)" -eq 0 ] || return 0
  id "$ES_USER" >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$ES_USER"
}

start_es() {
  if es_up; then log "elasticsearch already answering on $ES_URL"; return; fi
  command -v curl >/dev/null || apt_install curl
  install_es
  ensure_es_user
  local java_home
  java_home=$(find_java)
  mkdir -p "$ES_DATA/data" "$ES_DATA/logs" "$ES_DATA/run" "$ES_DATA/tmp"
  if [ "$(id -u)" -eq 0 ]; then
    chown -R "$ES_USER": "$ES_HOME" "$ES_DATA"
    chmod 755 "$STATE_DIR" "$CACHE_DIR"
  fi
  log "starting elasticsearch $ES_VERSION on $ES_URL (java: $java_home, heap $ES_HEAP, user $ES_USER)"
  (cd "$ES_DATA" && as_es_user env ES_JAVA_HOME="$java_home" ES_TMPDIR="$ES_DATA/tmp" \
    ES_JAVA_OPTS="-Xms$ES_HEAP -Xmx$ES_HEAP" \
    "$ES_HOME/bin/elasticsearch" -d -p "$ES_DATA/run/es.pid" \
    -Ecluster.name="$ES_CLUSTER" -Enode.name="$ES_NODE" \
    -Ediscovery.type="$ES_DISCOVERY" -Enetwork.host=127.0.0.1 -Ehttp.port="$ES_PORT" \
    -Expack.security.enabled=false -Ecluster.routing.allocation.disk.threshold_enabled=false \
    -Epath.data="$ES_DATA/data" -Epath.logs="$ES_DATA/logs" ${ES_EXTRA_OPTS[@]+"${ES_EXTRA_OPTS[@]}"} \
    >"$ES_DATA/run/startup.log" 2>&1) || {
      tail -n 20 "$ES_DATA/run/startup.log" >&2
      log "elasticsearch failed to start; see $ES_DATA/logs/$ES_CLUSTER.log"; exit 1; }
  for _ in $(seq 180); do
    es_up && { log "elasticsearch up: $(es_health | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p')"; return; }
    sleep 1
  done
  log "elasticsearch did not become healthy in 180 s; see $ES_DATA/logs/$ES_CLUSTER.log"; exit 1
}

stop_es() {
  local pidfile=$ES_DATA/run/es.pid pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    log "elasticsearch stopped"
  fi
  rm -f "$pidfile"
}

usage() { echo "usage: $0 start|stop|status [redis|elasticsearch] | es-version | state-dir" >&2; exit 2; }

case "${1:-}:${2:-}" in
  start:) start_redis; start_es ;;
  start:redis) start_redis ;;
  start:elasticsearch) start_es ;;
  stop:) stop_es; stop_redis ;;
  stop:redis) stop_redis ;;
  stop:elasticsearch) stop_es ;;
  status:) redis_up && es_up ;;
  status:redis) redis_up ;;
  status:elasticsearch) es_up ;;
  es-version:) echo "$ES_VERSION" ;;
  state-dir:) echo "$STATE_DIR" ;;
  *) usage ;;
esac
