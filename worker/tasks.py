"""Celery tasks: thin wrappers that retry; the work is in ``worker.pipeline``."""

from __future__ import annotations

from typing import Any

from celery import Task
from celery.signals import worker_process_init
from elasticsearch import ConnectionError as ESConnectionError
from elasticsearch import TransportError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.clients import get_elasticsearch, get_redis
from shared.settings import get_settings
from worker.celery_app import PROCESS_ARTICLES_TASK, app
from worker.enrich import warm_up
from worker.pipeline import mark_failed, process_batch

# Outages that pass: the batch is retried with backoff, never dropped.
TRANSIENT_ERRORS = (ESConnectionError, TransportError, RedisConnectionError, RedisTimeoutError)


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _load_models(**_: Any) -> None:
    warm_up()


@app.task(  # type: ignore[untyped-decorator]
    bind=True,
    name=PROCESS_ARTICLES_TASK,
    acks_late=True,
    max_retries=None,  # bounded below by settings.task_max_retries
)
def process_articles(self: Task, payloads: list[dict[str, Any]]) -> dict[str, int]:
    settings = get_settings()
    try:
        outcome = process_batch(
            payloads, es=get_elasticsearch(), redis_client=get_redis(), settings=settings
        )
    except TRANSIENT_ERRORS as error:
        if self.request.retries >= settings.task_max_retries:
            mark_failed(
                payloads,
                f"gave up after {self.request.retries} retries: {type(error).__name__}: {error}",
                redis_client=get_redis(),
                settings=settings,
            )
            raise
        raise self.retry(exc=error, countdown=min(2**self.request.retries, 60)) from error
    return {"indexed": len(outcome.indexed), "failed": len(outcome.failed)}
