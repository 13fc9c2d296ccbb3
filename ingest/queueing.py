"""Queue validated articles for the workers, recording each one as ``queued`` first."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import redis
from celery import Celery

from ingest.broker import encode_task_message, note_depth, push_tasks, queue_depth
from shared.clients import get_broker_redis
from shared.http import ApiError
from shared.schema import ArticleIn, to_payload
from shared.settings import Settings
from shared.status import queue_state_records, set_states
from worker.celery_app import PROCESS_ARTICLES_TASK


def refuse_when_backlogged(settings: Settings, queue: str) -> None:
    """Raise ``ApiError(429)`` while ``queue`` is deeper than the configured limit, and 503
    when the broker cannot be asked: accepting then could not be made durable."""
    limit = settings.ingest_max_queued_tasks
    try:
        depth = queue_depth(get_broker_redis(settings), queue, limit)
    except (redis.RedisError, OSError) as error:
        raise ApiError(503, "Queue unavailable", f"Redis is unreachable: {error}") from error
    if depth >= limit:
        raise ApiError(
            429,
            "Too many queued articles",
            f"{depth} tasks are waiting (limit {limit}); "
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

    Each article's ``queued`` state is written before its task, so a fast worker's
    ``indexed`` can never be overwritten by it: in one ``MULTI``/``EXEC`` with the tasks when
    the broker is the status Redis (one round trip, all or nothing), else just before them.
    Raises ``ApiError(503)`` when Redis cannot take them; then none was queued.
    """
    queue = queue or settings.queue_name
    size = settings.ingest_task_batch_size
    batches = [payloads[start : start + size] for start in range(0, len(payloads), size)]
    broker = get_broker_redis(settings)
    pipe = redis_client.pipeline(transaction=True)
    try:
        queue_state_records(
            pipe,
            settings.index_prefix,
            [(p["id"], "queued", None) for p in payloads],
            settings.status_ttl_s,
        )
        if broker is not redis_client:
            pipe.execute()
            pipe = broker.pipeline(transaction=True)
        push_tasks(pipe, queue, [_task_message(celery_app, batch, queue) for batch in batches])
        note_depth(broker, queue, int(pipe.execute()[-1]))
    except redis.RedisError as error:
        # Should the connection drop after EXEC was sent, the tasks may be queued after all:
        # a client sending them again only rewrites the same ids (indexing is idempotent).
        with contextlib.suppress(redis.RedisError):
            set_states(
                redis_client,
                settings.index_prefix,
                [(p["id"], "failed", "not queued: the broker was unavailable") for p in payloads],
                settings.status_ttl_s,
            )
        raise ApiError(
            503,
            "Queue unavailable",
            f"could not queue the {len(payloads)} articles: {error}",
            not_queued_ids=[p["id"] for p in payloads],
        ) from error


def _task_message(celery_app: Celery, batch: Sequence[dict[str, Any]], queue: str) -> str:
    ids = ", ".join(p["id"] for p in batch[:3])
    more = f" and {len(batch) - 3} more" if len(batch) > 3 else ""
    return encode_task_message(
        celery_app,
        PROCESS_ARTICLES_TASK,
        [list(batch)],
        queue=queue,
        argsrepr=f"[{len(batch)} articles: {ids}{more}]",
    )
