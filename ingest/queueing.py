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


def queue_articles(
    articles: Sequence[ArticleIn],
    *,
    content_type: str,
    celery_app: Celery,
    redis_client: redis.Redis,
    settings: Settings,
) -> list[dict[str, Any]]:
    """Send the articles to the queue in batches; return their payloads (one per distinct id).

    The ``queued`` state is written before the task is sent, so a fast worker's ``indexed``
    can never be overwritten by it. Raises ``ApiError(503)`` when Redis cannot take them.
    """
    received_at = datetime.now(UTC)
    by_id: dict[str, dict[str, Any]] = {}
    for article in articles:
        payload = to_payload(article, content_type=content_type, received_at=received_at)
        by_id[payload["id"]] = payload  # the same article twice in one request: the last wins
    payloads = list(by_id.values())
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
            celery_app.send_task(PROCESS_ARTICLES_TASK, args=[batch], queue=settings.queue_name)
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
    return payloads
