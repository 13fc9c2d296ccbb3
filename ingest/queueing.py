"""Queue validated articles for the workers, recording each one as ``queued`` first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import redis
from celery import Celery

from ingest.pressure import current_load, note_pushed, refusal
from shared.article import ArticlePayload
from shared.clients import get_broker_redis, get_redis
from shared.http import ApiError
from shared.schema import ArticleIn, to_payload
from shared.settings import Settings
from shared.takedown import Takedown, taken_down
from shared.tasks import enqueue_payloads


def _unreachable(settings: Settings, error: Exception) -> ApiError:
    """503: Redis cannot be asked, so nothing could be queued durably either."""
    return ApiError(
        503,
        "Queue unavailable",
        f"Redis is unreachable: {error}",
        retry_after_s=settings.ingest_retry_after_s,
    )


def refuse_when_backlogged(settings: Settings, queue: str) -> None:
    """Raise the ``ApiError`` of ``ingest.pressure.refusal`` (429 while ``queue`` holds too
    many tasks or bytes; 503 while Redis is nearly at its maxmemory or the dead letters are
    over their budget), and 503 when Redis cannot be asked: accepting then could not be made
    durable."""
    try:
        load = current_load(get_broker_redis(settings), get_redis(settings), queue, settings)
    except (redis.RedisError, OSError) as error:
        raise _unreachable(settings, error) from error
    refused = refusal(load, settings)
    if refused is not None:
        raise refused


def refuse_heavy_when_backlogged(
    articles: Sequence[ArticleIn], settings: Settings, queue: str
) -> None:
    """The bulk queue's bounds too, when some of these articles will go there (see
    ``shared.tasks.split_heavy``) although they were posted to the live queue."""
    limit = settings.ingest_heavy_article_chars
    if queue == settings.queue_name and any(
        len(article.body or "") + len(article.html or "") > limit for article in articles
    ):
        refuse_when_backlogged(settings, settings.bulk_queue_name)


def make_payloads(articles: Sequence[ArticleIn], *, content_type: str) -> list[ArticlePayload]:
    """One payload per article, in order (ids computed, all received now)."""
    received_at = datetime.now(UTC)
    return [
        to_payload(article, content_type=content_type, received_at=received_at)
        for article in articles
    ]


def refuse_taken_down(
    payloads: Sequence[ArticlePayload], redis_client: redis.Redis, settings: Settings
) -> tuple[list[ArticlePayload], dict[int, Takedown]]:
    """``(kept, refused)``: the payloads whose article is not taken down (shared/takedown.py),
    and the takedown of each refused one by its place in ``payloads``. One round trip; 503
    when Redis cannot be asked (the article could not be queued either)."""
    try:
        found = taken_down(redis_client, settings, list({p["id"]: None for p in payloads}))
    except (redis.RedisError, OSError) as error:
        raise _unreachable(settings, error) from error
    if not found:
        return list(payloads), {}
    kept = [payload for payload in payloads if payload["id"] not in found]
    refused = {n: found[p["id"]] for n, p in enumerate(payloads) if p["id"] in found}
    return kept, refused


def queue_payloads(
    payloads: Sequence[ArticlePayload],
    *,
    celery_app: Celery,
    redis_client: redis.Redis,
    settings: Settings,
    queue: str | None = None,
) -> list[ArticlePayload]:
    """Queue the payloads; return them, one per id (the same article twice: the last wins)."""
    by_id = {payload["id"]: payload for payload in payloads}
    payloads = list(by_id.values())
    pushed = enqueue_payloads(
        payloads,
        celery_app=celery_app,
        redis_client=redis_client,
        settings=settings,
        queue=queue,
    )
    broker = get_broker_redis(settings)
    for batch in pushed:
        note_pushed(
            broker,
            redis_client,
            batch.queue,
            settings,
            depth=batch.depth,
            size=batch.size,
            articles=batch.articles,
            tasks=batch.tasks,
        )
    return payloads


def queue_articles(
    articles: Sequence[ArticleIn],
    *,
    content_type: str,
    celery_app: Celery,
    redis_client: redis.Redis,
    settings: Settings,
    queue: str | None = None,
) -> list[ArticlePayload]:
    """Turn the articles into payloads and queue them; return the payloads (one per id)."""
    return queue_payloads(
        make_payloads(articles, content_type=content_type),
        celery_app=celery_app,
        redis_client=redis_client,
        settings=settings,
        queue=queue,
    )
