"""Queue validated articles for the workers, recording each one as ``queued`` first."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import redis
from celery import Celery
from redis.exceptions import OutOfMemoryError

from ingest.broker import encode_task_message, push_tasks
from ingest.pressure import current_load, note_pushed, refusal
from shared.clients import get_broker_redis, get_redis
from shared.http import ApiError
from shared.schema import ArticleIn, to_payload
from shared.settings import Settings
from shared.status import queue_state_records, set_states
from worker.celery_app import PROCESS_ARTICLES_TASK


def refuse_when_backlogged(settings: Settings, queue: str) -> None:
    """Raise the ``ApiError`` of ``ingest.pressure.refusal`` (429 while ``queue`` holds too
    many tasks or bytes; 503 while Redis is nearly at its maxmemory or the dead letters are
    over their budget), and 503 when Redis cannot be asked: accepting then could not be made
    durable."""
    try:
        load = current_load(get_broker_redis(settings), get_redis(settings), queue, settings)
    except (redis.RedisError, OSError) as error:
        raise ApiError(
            503,
            "Queue unavailable",
            f"Redis is unreachable: {error}",
            retry_after_s=settings.ingest_retry_after_s,
        ) from error
    refused = refusal(load, settings)
    if refused is not None:
        raise refused


def refuse_heavy_when_backlogged(
    articles: Sequence[ArticleIn], settings: Settings, queue: str
) -> None:
    """The bulk queue's bounds too, when some of these articles will go there (see
    ``split_heavy``) although they were posted to the live queue."""
    limit = settings.ingest_heavy_article_chars
    if queue == settings.queue_name and any(
        len(article.body or "") + len(article.html or "") > limit for article in articles
    ):
        refuse_when_backlogged(settings, settings.bulk_queue_name)


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
    light: list[dict[str, Any]] = list(payloads)
    heavy: list[dict[str, Any]] = []
    if queue == settings.queue_name:
        light, heavy = split_heavy(payloads, settings.ingest_heavy_article_chars)
    broker = get_broker_redis(settings)
    pipe = redis_client.pipeline(transaction=True)
    try:
        heavy_note = (
            f"queued on {settings.bulk_queue_name}: over "
            f"{settings.ingest_heavy_article_chars:,} characters"
        )
        queue_state_records(
            pipe,
            settings.index_prefix,
            [(p["id"], "queued", None) for p in light]
            + [(p["id"], "queued", heavy_note) for p in heavy],
            settings.status_ttl_s,
        )
        if broker is not redis_client:
            pipe.execute()
            pipe = broker.pipeline(transaction=True)
        size = settings.ingest_task_batch_size
        # Heavy articles one a task: each is slow enough alone.
        pushes = [
            (settings.bulk_queue_name, [[p] for p in heavy]),
            (queue, [light[start : start + size] for start in range(0, len(light), size)]),
        ]
        pushed = []  # (queue, messages, its last reply's index)
        for target, batches in pushes:
            messages = [_task_message(celery_app, batch, target).encode() for batch in batches]
            if messages:
                push_tasks(pipe, target, messages)
                pushed.append((target, messages, len(pipe) - 1))
        replies = pipe.execute()
        for target, messages, last in pushed:
            note_pushed(
                broker,
                redis_client,
                target,
                settings,
                depth=int(replies[last]),
                size=sum(len(m) for m in messages),
                articles=len(heavy) if target != queue else len(light),
                tasks=len(messages),
            )
    except redis.RedisError as error:
        full = isinstance(error, OutOfMemoryError)  # at maxmemory: the whole MULTI refused
        why = "Redis was at its maxmemory" if full else "the broker was unavailable"
        # Should the connection drop after EXEC was sent, the tasks may be queued after all:
        # a client sending them again only rewrites the same ids (indexing is idempotent).
        with contextlib.suppress(redis.RedisError):
            set_states(
                redis_client,
                settings.index_prefix,
                [(p["id"], "failed", f"not queued: {why}") for p in payloads],
                settings.status_ttl_s,
            )
        raise ApiError(
            503,
            "Redis memory full" if full else "Queue unavailable",
            f"Redis is at its maxmemory and took none of the {len(payloads)} articles; send "
            f"them again after {settings.ingest_retry_after_s} s"
            if full
            else f"could not queue the {len(payloads)} articles: {error}",
            retry_after_s=settings.ingest_retry_after_s,
            not_queued_ids=[p["id"] for p in payloads],
        ) from error


def split_heavy(
    payloads: Sequence[dict[str, Any]], limit_chars: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(light, heavy)``: articles whose text (body and HTML page) is over ``limit_chars``
    take seconds of a worker each; they go to the bulk queue, whose worker is not the one
    that keeps live articles fresh (no single article may stall the stream)."""
    light: list[dict[str, Any]] = []
    heavy: list[dict[str, Any]] = []
    for payload in payloads:
        size = len(payload.get("body") or "") + len(payload.get("html") or "")
        (heavy if size > limit_chars else light).append(payload)
    return light, heavy


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
