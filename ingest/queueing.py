"""Queue validated articles for the workers, recording each one as ``queued`` first."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import redis
from celery import Celery
from kombu.exceptions import OperationalError

from shared.http import ApiError
from shared.schema import ArticleIn, to_payload
from shared.settings import Settings
from shared.status import set_states
from worker.celery_app import PROCESS_ARTICLES_TASK


def queued_tasks(celery_app: Celery, queue: str) -> int:
    """Tasks waiting in ``queue`` (not those a worker holds). The broker is Redis, where a
    queue is a list; kombu's transport-neutral passive declare fails on an empty queue."""
    with celery_app.pool.acquire(block=True, timeout=5) as connection:
        return int(connection.default_channel.client.llen(queue))


def refuse_when_backlogged(celery_app: Celery, settings: Settings, queue: str) -> None:
    """Raise ``ApiError(429)`` while ``queue`` is deeper than the configured limit, and 503
    when the broker cannot be asked: accepting then could not be made durable."""
    try:
        depth = queued_tasks(celery_app, queue)
    except (OperationalError, redis.RedisError, OSError) as error:
        raise ApiError(503, "Queue unavailable", f"Redis is unreachable: {error}") from error
    if depth >= settings.ingest_max_queued_tasks:
        raise ApiError(
            429,
            "Too many queued articles",
            f"{depth} tasks are waiting (limit {settings.ingest_max_queued_tasks}); "
            f"send again after {settings.ingest_retry_after_s} s",
            retry_after_s=settings.ingest_retry_after_s,
            queued_tasks=depth,
        )


def queue_articles(
    articles: Sequence[ArticleIn],
    *,
    content_type: str,
    celery_app: Celery,
    redis_client: redis.Redis,
    settings: Settings,
    queue: str | None = None,
) -> list[dict[str, Any]]:
    """Turn the articles into payloads and queue them; return the payloads (one per id)."""
    received_at = datetime.now(UTC)
    by_id: dict[str, dict[str, Any]] = {}
    for article in articles:
        payload = to_payload(article, content_type=content_type, received_at=received_at)
        by_id[payload["id"]] = payload  # the same article twice in one request: the last wins
    payloads = list(by_id.values())
    enqueue_payloads(
        payloads,
        celery_app=celery_app,
        redis_client=redis_client,
        settings=settings,
        queue=queue,
    )
    return payloads


def enqueue_payloads(
    payloads: Sequence[dict[str, Any]],
    *,
    celery_app: Celery,
    redis_client: redis.Redis,
    settings: Settings,
    queue: str | None = None,
) -> None:
    """Send payloads to ``queue`` (the live one by default) in batches: ingest, replays of
    dead letters, rebuilds.

    The ``queued`` state is written before the task is sent, so a fast worker's ``indexed``
    can never be overwritten by it. Raises ``ApiError(503)`` when Redis cannot take them.
    """
    try:
        set_states(
            redis_client,
            settings.index_prefix,
            [(p["id"], "queued", None) for p in payloads],
            settings.status_ttl_s,
        )
    except redis.RedisError as error:
        raise ApiError(
            503, "Queue unavailable", f"Redis cannot record the articles: {error}"
        ) from error
    size = settings.ingest_task_batch_size
    sent = 0
    try:
        for start in range(0, len(payloads), size):
            batch = payloads[start : start + size]
            celery_app.send_task(
                PROCESS_ARTICLES_TASK, args=[batch], queue=queue or settings.queue_name
            )
            sent += len(batch)
    except (OperationalError, redis.RedisError) as error:
        unsent = payloads[sent:]
        # If even this fails, the 503 below still tells the client to send these again.
        with contextlib.suppress(redis.RedisError):
            set_states(
                redis_client,
                settings.index_prefix,
                [(p["id"], "failed", "not queued: the broker was unavailable") for p in unsent],
                settings.status_ttl_s,
            )
        raise ApiError(
            503,
            "Queue unavailable",
            f"could not queue {len(unsent)} of {len(payloads)} articles: {error}",
            queued_ids=[p["id"] for p in payloads[:sent]],
            not_queued_ids=[p["id"] for p in unsent],
        ) from error
