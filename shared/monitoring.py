"""Where the pipeline stands, for `newsroom status`, the web's pipeline page and ``/metrics``.

Everything comes from cheap reads: the queue's length (``LLEN`` on the broker), kombu's
``unacked`` hash (tasks workers hold), the workers' heartbeats, the dead-letter store, the
Redis-backed metrics (shared/metrics.py) and two small Elasticsearch calls (count, store size).
Celery's ``inspect`` is not used: it broadcasts to every worker and waits a second for answers.

Worker heartbeats: every worker process writes ``{host, pid, state, ...}`` into the hash
``<prefix>:workers`` every ``HEARTBEAT_INTERVAL_S`` (worker/observability.py); a process not
heard from for ``ALIVE_S`` counts as gone, and its entry is dropped after ``FORGET_S``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import redis
from elasticsearch import ApiError as ESApiError
from elasticsearch import Elasticsearch, TransportError
from prometheus_client.core import GaugeMetricFamily, Metric

from shared import metrics
from shared.clients import get_broker_redis, get_elasticsearch, get_redis
from shared.deadletters import count_dead_letters, newest_dead_letters
from shared.settings import Settings

HEARTBEAT_INTERVAL_S = 10
ALIVE_S = 3 * HEARTBEAT_INTERVAL_S + 5
FORGET_S = 3600
# kombu's Redis transport keeps every delivered, not yet acknowledged message here (all queues
# of the broker's database; countdown retries wait here too).
KOMBU_UNACKED_KEY = "unacked"


def workers_key(prefix: str) -> str:
    return f"{prefix}:workers"


def write_heartbeat(
    client: redis.Redis, prefix: str, worker_id: str, info: Mapping[str, Any]
) -> None:
    client.hset(workers_key(prefix), worker_id, json.dumps({**info, "last_seen": time.time()}))


def remove_heartbeat(client: redis.Redis, prefix: str, worker_id: str) -> None:
    client.hdel(workers_key(prefix), worker_id)


def read_workers(
    client: redis.Redis, prefix: str, now: float | None = None
) -> list[dict[str, Any]]:
    """Worker processes heard from lately, busiest first. Long-silent entries (processes that
    were killed) are dropped on the way."""
    now = now or time.time()
    raw: dict[str, str] = client.hgetall(workers_key(prefix))  # type: ignore[assignment]
    alive, forgotten = [], []
    for worker_id, value in raw.items():
        try:
            info = json.loads(value)
            age = now - float(info["last_seen"])
        except (ValueError, KeyError, TypeError):
            forgotten.append(worker_id)
            continue
        if age > FORGET_S:
            forgotten.append(worker_id)
        elif age <= ALIVE_S:
            alive.append({"id": worker_id, **info, "seen_s_ago": round(max(age, 0.0), 1)})
    if forgotten:
        client.hdel(workers_key(prefix), *forgotten)
    alive.sort(key=lambda w: (w.get("state") != "busy", w["id"]))
    return alive


def queue_depths(settings: Settings, broker_client: redis.Redis) -> tuple[dict[str, int], int]:
    """Tasks waiting in each queue (live; bulk for archive loads and rebuilds; webhook
    deliveries), and the tasks workers hold, in one round trip to the broker."""
    names = list(
        dict.fromkeys([settings.queue_name, settings.bulk_queue_name, settings.webhook_queue_name])
    )
    pipe = broker_client.pipeline(transaction=False)
    for name in names:
        pipe.llen(name)
    pipe.hlen(KOMBU_UNACKED_KEY)
    *depths, reserved = pipe.execute()
    return {name: int(depth) for name, depth in zip(names, depths, strict=True)}, int(reserved)


def index_stats(es: Elasticsearch, alias: str) -> dict[str, Any]:
    """Articles in the index and its size on disk; the error instead when it cannot be asked."""
    try:
        documents = int(es.count(index=alias)["count"])
        stats = es.indices.stats(index=alias, metric="store")
        store = stats["_all"]["total"]["store"]["size_in_bytes"]
        primaries = stats["_all"]["primaries"]["store"]["size_in_bytes"]
    except ESApiError as error:
        if error.meta.status == 404:  # nothing indexed yet: no index behind the alias
            return {"alias": alias, "documents": 0, "store_bytes": 0, "primary_store_bytes": 0}
        return {"alias": alias, "error": f"Elasticsearch answered {error.meta.status}"}
    except TransportError as error:
        return {"alias": alias, "error": f"Elasticsearch is unreachable: {error}"}
    return {
        "alias": alias,
        "documents": documents,
        "store_bytes": int(store),
        "primary_store_bytes": int(primaries),
    }


def _rate_per_minute(series: list[dict[str, Any]], field: str, window: int, now: float) -> float:
    """Per-minute rate over the last ``window`` minutes, the current minute counting for the
    part of it that has passed."""
    recent = series[-window:]
    elapsed = (len(recent) - 1) + (now % 60) / 60
    return round(float(sum(row[field] for row in recent)) / max(elapsed, 1 / 60), 2)


def _clients(settings: Settings) -> tuple[redis.Redis, redis.Redis, Elasticsearch]:
    """Status Redis, broker Redis, Elasticsearch: what every reading here needs."""
    return get_redis(settings), get_broker_redis(settings), get_elasticsearch(settings)


def pipeline_snapshot(
    settings: Settings,
    *,
    minutes: int = 30,
    failure_window: int = 15,
    rate_window: int = 5,
    latest: int = 5,
) -> dict[str, Any]:
    """The state of the whole pipeline. Raises ``redis.RedisError`` when Redis cannot answer
    (then there is nothing to tell); an unreachable Elasticsearch shows as ``index.error``."""
    redis_client, broker_client, es = _clients(settings)
    now = time.time()
    prefix = settings.index_prefix
    queues, reserved = queue_depths(settings, broker_client)
    workers = read_workers(redis_client, prefix, now)
    series = metrics.read_series(redis_client, prefix, minutes, now)
    totals = metrics.read_totals(redis_client, prefix)
    window = series[-failure_window:]
    letters = newest_dead_letters(redis_client, prefix, latest)
    return {
        "at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
        "queue": {
            "name": settings.queue_name,
            # Article tasks (what ingest's limit counts); webhook deliveries are listed apart.
            "waiting_tasks": sum(
                depth for name, depth in queues.items() if name != settings.webhook_queue_name
            ),
            "queues": queues,
            "max_waiting_tasks": settings.ingest_max_queued_tasks,
            "reserved_tasks": int(reserved),
            "batch_size": settings.ingest_task_batch_size,
            "articles_in_progress": sum(
                int(w.get("articles") or 0) for w in workers if w.get("state") == "busy"
            ),
        },
        "workers": {"alive": len(workers), "processes": workers},
        "throughput": {
            "window_minutes": rate_window,
            "per_minute": {
                name: _rate_per_minute(series, name, rate_window, now)
                for name in metrics.SERIES_FIELDS
            },
            "minutes": series,
        },
        "failures": {
            "window_minutes": failure_window,
            "failed": sum(row["failed"] for row in window),
            "dead_lettered": sum(row["dead_lettered"] for row in window),
            "latest": metrics.recent_failures(redis_client, prefix, latest),
        },
        "dead_letters": {
            "count": count_dead_letters(redis_client, prefix),
            "latest": [letter.summary() for letter in letters],
        },
        "index": index_stats(es, settings.articles_alias),
        "totals": {
            "accepted": totals.counter(metrics.ACCEPTED),
            "rejected": totals.counter(metrics.REJECTED),
            "refused_requests": totals.counter(metrics.INGEST_REFUSED),
            "queued": totals.counter(metrics.QUEUED),
            "enriched": totals.counter(metrics.ENRICHED),
            "indexed": totals.counter(metrics.INDEXED),
            "superseded": totals.counter(metrics.SUPERSEDED),
            "failed": totals.counter(metrics.FAILED),
            "dead_lettered": totals.counter(metrics.DEAD_LETTERED),
            "batch_retries": totals.counter(metrics.BATCH_RETRIES),
        },
    }


def _gauge(name: str, documentation: str, value: float, **labels: str) -> GaugeMetricFamily:
    family = GaugeMetricFamily(metrics.NAMESPACE + name, documentation, labels=list(labels))
    family.add_metric(list(labels.values()), value)
    return family


def metrics_text(settings: Settings) -> bytes:
    """``/metrics``: the pipeline-wide counters and histograms, and gauges read now. Raises
    ``redis.RedisError`` when Redis cannot answer (the scrape then fails: ``up`` is 0)."""
    redis_client, broker_client, es = _clients(settings)
    prefix = settings.index_prefix
    totals = metrics.read_totals(redis_client, prefix)
    queues, reserved = queue_depths(settings, broker_client)
    workers = read_workers(redis_client, prefix)
    index = index_stats(es, settings.articles_alias)
    waiting = GaugeMetricFamily(
        metrics.NAMESPACE + "queue_waiting_tasks",
        "Tasks waiting in a queue (each holds up to NEWSROOM_INGEST_TASK_BATCH_SIZE articles).",
        labels=["queue"],
    )
    for name, depth in queues.items():
        waiting.add_metric([name], depth)
    gauges: list[Metric] = [
        waiting,
        _gauge(
            "broker_reserved_tasks",
            "Tasks delivered to workers and not yet acknowledged (whole broker database, "
            "countdown retries included).",
            reserved,
        ),
        _gauge("workers_alive", "Worker processes heard from in the last 35 s.", len(workers)),
        _gauge(
            "articles_in_progress",
            "Articles in the batches workers are on now.",
            sum(int(w.get("articles") or 0) for w in workers if w.get("state") == "busy"),
        ),
        _gauge(
            "dead_letters",
            "Articles in the dead letters now.",
            count_dead_letters(redis_client, prefix),
        ),
        _gauge(
            "elasticsearch_up",
            "1 when Elasticsearch answered this scrape's index questions.",
            0 if "error" in index else 1,
        ),
    ]
    if "error" not in index:
        gauges += [
            _gauge("index_documents", "Articles in the index.", index["documents"]),
            _gauge(
                "index_store_bytes",
                "Size of the index on disk, replicas included.",
                index["store_bytes"],
            ),
        ]
    return metrics.render([*metrics.metric_families(totals), *gauges])
