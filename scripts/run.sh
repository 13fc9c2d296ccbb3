#!/usr/bin/env bash
# Run the whole stack on this machine: Redis, Elasticsearch, ingest, three Celery workers (live,
# bulk, webhooks) and web.
# Ctrl-C stops everything this script started.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
INGEST_PORT=${INGEST_PORT:-8001}
WEB_PORT=${WEB_PORT:-8000}

scripts/bootstrap.sh
services_were_up=0
scripts/services.sh status && services_were_up=1
scripts/services.sh start

export HF_HUB_OFFLINE=1

# The key signing session cookies and CSRF tokens: the web's processes must share one, and
# sessions should outlive a restart. Unless one is given (environment or .env), keep one in the
# state directory, readable by this user only.
if [ -z "${NEWSROOM_SECRET_KEY:-}" ] && ! grep -qs '^NEWSROOM_SECRET_KEY=.' .env; then
  state_dir=$(scripts/services.sh state-dir)
  mkdir -p "$state_dir"
  if [ ! -s "$state_dir/secret_key" ]; then
    (umask 077 && .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))' \
      >"$state_dir/secret_key")
  fi
  NEWSROOM_SECRET_KEY=$(cat "$state_dir/secret_key")
  export NEWSROOM_SECRET_KEY
fi

# The first admin, when no user exists yet: "admin", with NEWSROOM_ADMIN_PASSWORD when set, else
# a one-time password shown once in the banner below (`newsroom users reset-password admin`
# makes a new one). Once there are users this does nothing.
first_admin=$(.venv/bin/newsroom users first-admin)
case "$first_admin" in
  "users exist"*) first_admin="" ;;
esac

children=()
cleanup() {
  trap - INT TERM EXIT
  echo; echo "run: stopping" >&2
  [ ${#children[@]} -eq 0 ] || kill -TERM "${children[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  [ "$services_were_up" -eq 1 ] || scripts/services.sh stop
}
trap cleanup EXIT
trap 'cleanup; exit 0' INT TERM  # a requested stop is a clean exit

# One worker serves the live queue only, so articles posted as they happen never wait behind an
# archive load or a rebuild; the other takes the bulk queue and helps with live when idle.
live=${NEWSROOM_QUEUE_NAME:-live}
bulk=${NEWSROOM_BULK_QUEUE_NAME:-bulk}
.venv/bin/celery -A worker.celery_app worker --queues "$live" --concurrency 1 --loglevel INFO \
  --hostname "live@%h" &
children+=($!)
.venv/bin/celery -A worker.celery_app worker --queues "$bulk,$live" --concurrency 1 --loglevel INFO \
  --hostname "bulk@%h" &
children+=($!)
# Webhook deliveries have a queue and a worker of their own, so a slow receiver never holds an
# article worker. Threads: deliveries wait on the network, and no models are loaded (those load
# in prefork pool processes only): about 200 MB (the imports), against ~700 MB per article process.
webhooks=${NEWSROOM_WEBHOOK_QUEUE_NAME:-webhooks}
.venv/bin/celery -A worker.celery_app worker --queues "$webhooks" --pool threads --concurrency 4 \
  --loglevel INFO --hostname "webhooks@%h" &
children+=($!)
.venv/bin/gunicorn --bind "127.0.0.1:$INGEST_PORT" --workers 2 --threads 4 "ingest:create_app()" &
children+=($!)
# gthread (as --threads implies): a long export streams on its own thread, never hitting the
# worker timeout, which watches the process.
.venv/bin/gunicorn --bind "127.0.0.1:$WEB_PORT" --workers 2 --worker-class gthread --threads 4 "web:create_app()" &
children+=($!)

for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$INGEST_PORT/healthz" >/dev/null 2>&1 && curl -fsS "http://127.0.0.1:$WEB_PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
cat <<MSG

  Newsroom is running.
    Search:  http://127.0.0.1:$WEB_PORT/
    Ingest:  http://127.0.0.1:$INGEST_PORT/articles   (POST; see README.md)
  Press Ctrl-C to stop.

MSG
if [ -n "$first_admin" ]; then
  printf '%s\n\n' "$first_admin" | sed 's/^/  /'
fi
wait -n "${children[@]}"
echo "run: a service exited; stopping the rest" >&2
