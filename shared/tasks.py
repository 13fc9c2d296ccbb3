"""The task contract between the services: task names, queues, the Celery configuration, and the
task messages ingest and the command line write straight into the broker.

The worker runs these tasks (``worker/tasks.py``, one Celery app: ``worker/celery_app.py``);
ingest and the CLI only send them, by name, and so never import the worker. A task receives
JSON: ``newsroom.process_articles`` a batch of ``shared.article.ArticlePayload``.

Why ingest writes the messages itself rather than calling ``send_task``: on a single-article
POST kombu's publish was 34-45% of the ingest's CPU (a ``redis.Redis`` object built per
publish, a repr of every payload for the ``argsrepr`` header, a round trip of its own), and
the 429 check borrowed a pooled connection for its ``LLEN`` (backpressure reads its own figures
now: ``ingest/pressure.py``). Here Celery still builds the message (``amqp.as_task_v2``,
protocol 2), and ``encode_task_message`` only wraps it the way kombu's Redis transport stores
a message: a JSON envelope with the body base64-encoded, ``LPUSH``ed onto the list named after
the queue (priority 0, no key prefix, which is how ``celery_config`` sets up the transport).
``tests/test_broker.py`` compares the result with what ``send_task`` writes, and every ingest
test has a real worker consume it.

The JSON is written as UTF-8 (``ensure_ascii=False``), not with ``\\uXXXX`` escapes as kombu's
``dumps`` does: the message says ``content-encoding: utf-8`` and kombu decodes it so, and text
in Greek, Cyrillic or CJK takes half (to a third) of the bytes in the queue.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from json import dumps, loads
from typing import TYPE_CHECKING, Any, TypeVar

import redis
from redis.exceptions import OutOfMemoryError

from shared.clients import get_broker_redis
from shared.http import ApiError
from shared.settings import Settings
from shared.status import queue_state_records, set_states

if TYPE_CHECKING:  # imported when a producer is made: the CLI reads these names on every command
    from celery import Celery

# Enrich and index a batch of articles (args: a list of shared.article.ArticlePayload).
PROCESS_ARTICLES_TASK = "newsroom.process_articles"
# Saved-search alerts: match a batch just indexed; POST one webhook delivery (worker/alerts.py).
EVALUATE_ALERTS_TASK = "newsroom.evaluate_alerts"
DELIVER_WEBHOOK_TASK = "newsroom.deliver_webhook"
# ... and email one message to the saved search's owner (worker/mail.py), on the webhook queue.
DELIVER_EMAIL_TASK = "newsroom.deliver_email"

# The article queues a client may choose (``?queue=`` at ingest): live, the default, for
# articles as they happen; bulk for archive loads (and heavy articles), so live ones never wait
# behind them.
ARTICLE_QUEUES = ("live", "bulk")

_ORIGIN = f"{os.getpid()}@{socket.gethostname()}"

P = TypeVar("P", bound=Mapping[str, Any])


def article_queue(settings: Settings, choice: str) -> str:
    """The queue's name for a choice of ``ARTICLE_QUEUES`` (``ValueError`` for another)."""
    if choice not in ARTICLE_QUEUES:
        raise ValueError(f"no article queue {choice!r}; one of {', '.join(ARTICLE_QUEUES)}")
    return settings.bulk_queue_name if choice == "bulk" else settings.queue_name


def celery_config(settings: Settings) -> dict[str, Any]:
    """The Celery configuration every app of the project uses: the worker's
    (``worker/celery_app.py``) and the producers' that only send (``get_task_producer``)."""
    return {
        "broker_url": settings.celery_broker_url,
        # At-least-once: a task leaves Redis only once it has finished; a worker that dies
        # mid-task gives it back instead of losing it.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # Every task is bounded in time. Past the soft limit a batch is split into single
        # articles, sent again (worker/tasks.py); past the hard one the process is killed and
        # the message goes back to the queue rather than being acknowledged (lost): its next
        # delivery knows it was lost (worker/deliveries.py) and splits it, or dead-letters a
        # lone article.
        "task_soft_time_limit": settings.task_soft_time_limit_s,
        "task_time_limit": settings.task_time_limit_s,
        "task_acks_on_timeout": False,
        # A new pool process loads its models (worker_process_init) before it reports up;
        # Celery's 4 s default killed every replacement of a lost process, one after another.
        "worker_proc_alive_timeout": settings.worker_process_start_timeout_s,
        "worker_prefetch_multiplier": 1,
        "worker_max_memory_per_child": settings.worker_max_memory_mb * 1024,  # KiB
        "broker_transport_options": {
            "visibility_timeout": settings.broker_visibility_timeout_s,
            "socket_timeout": settings.redis_timeout_s,
            "socket_connect_timeout": settings.redis_timeout_s,
        },
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": settings.redis_timeout_s,
        # Ingest must answer 503 quickly when Redis is down rather than hang on publish.
        "task_publish_retry_policy": {
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.5,
        },
        "task_default_queue": settings.queue_name,
        # Webhook deliveries never share a queue with articles (worker/tasks.py also names the
        # queue when it sends them): a slow receiver holds a webhook worker, not ingestion.
        "task_routes": {
            DELIVER_WEBHOOK_TASK: {"queue": settings.webhook_queue_name},
            DELIVER_EMAIL_TASK: {"queue": settings.webhook_queue_name},
        },
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
        "enable_utc": True,
    }


def get_task_producer(settings: Settings) -> Celery:
    """A Celery app that only sends tasks, by name, configured as the worker's is (one per
    process and configuration). Ingest and the CLI use it: they never import the worker's app."""
    recent = _recent[-1:]
    if recent and recent[0][0] is settings:
        return recent[0][1]
    app = _producer(settings.celery_broker_url, dumps(celery_config(settings), sort_keys=True))
    _recent[:] = [(settings, app)]
    return app


# The settings last asked for and their producer: a request then costs an identity check, not
# a configuration built and serialised (13 us).
_recent: list[tuple[Settings, Celery]] = []


@lru_cache(maxsize=4)
def _producer(broker_url: str, config_json: str) -> Celery:
    from celery import Celery

    app = Celery("newsroom", broker=broker_url, set_as_current=False)
    app.conf.update(loads(config_json))
    return app


def encode_task_message(
    celery_app: Celery, task_name: str, args: Sequence[Any], *, queue: str, argsrepr: str
) -> str:
    """The broker's stored form of one task message for ``queue`` (what ``LPUSH`` takes)."""
    task_id = str(uuid.uuid4())
    message = celery_app.amqp.as_task_v2(
        task_id,
        task_name,
        args=list(args),
        argsrepr=argsrepr,
        kwargsrepr="{}",
        origin=_ORIGIN,
        ignore_result=None,  # as send_task leaves it: the task's own setting decides
    )
    body = base64.b64encode(dumps(message.body, ensure_ascii=False).encode()).decode("ascii")
    envelope = {
        "body": body,
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": message.headers,
        "properties": {
            **message.properties,
            "delivery_mode": 2,  # persistent
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    return dumps(envelope, ensure_ascii=False)


def push_tasks(pipe: redis.client.Pipeline, queue: str, messages: Sequence[str | bytes]) -> None:
    """Add the ``LPUSH`` of each message to ``pipe``; each reply is the queue's new depth."""
    for message in messages:
        pipe.lpush(queue, message)


@dataclass(frozen=True)
class Pushed:
    """What ``enqueue_payloads`` put on one queue (for ingest's backpressure reading)."""

    queue: str
    depth: int  # the queue's length after the last push
    size: int  # bytes of the messages
    articles: int
    tasks: int


def enqueue_payloads(
    payloads: Sequence[Mapping[str, Any]],
    *,
    celery_app: Celery,
    redis_client: redis.Redis,
    settings: Settings,
    queue: str | None = None,
) -> list[Pushed]:
    """Send payloads to ``queue`` (the live one by default) in batches: ingest, replays of
    dead letters, rebuilds. Returns what went on each queue.

    Each article's ``queued`` state is written before its task, so a fast worker's
    ``indexed`` can never be overwritten by it: in one ``MULTI``/``EXEC`` with the tasks when
    the broker is the status Redis (one round trip, all or nothing), else just before them.
    Raises ``ApiError(503)`` when Redis cannot take them; then none was queued.
    """
    queue = queue or settings.queue_name
    light: list[Mapping[str, Any]] = list(payloads)
    heavy: list[Mapping[str, Any]] = []
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
            messages = [_batch_message(celery_app, batch, target).encode() for batch in batches]
            if messages:
                push_tasks(pipe, target, messages)
                pushed.append((target, messages, len(pipe) - 1))
        replies = pipe.execute()
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
    return [
        Pushed(
            queue=target,
            depth=int(replies[last]),
            size=sum(len(m) for m in messages),
            articles=len(heavy) if target != queue else len(light),
            tasks=len(messages),
        )
        for target, messages, last in pushed
    ]


def split_heavy(payloads: Sequence[P], limit_chars: int) -> tuple[list[P], list[P]]:
    """``(light, heavy)``: articles whose text (body and HTML page) is over ``limit_chars``
    take seconds of a worker each; they go to the bulk queue, whose worker is not the one
    that keeps live articles fresh (no single article may stall the stream)."""
    light: list[P] = []
    heavy: list[P] = []
    for payload in payloads:
        size = len(payload.get("body") or "") + len(payload.get("html") or "")
        (heavy if size > limit_chars else light).append(payload)
    return light, heavy


def _batch_message(celery_app: Celery, batch: Sequence[Mapping[str, Any]], queue: str) -> str:
    ids = ", ".join(p["id"] for p in batch[:3])
    more = f" and {len(batch) - 3} more" if len(batch) > 3 else ""
    return encode_task_message(
        celery_app,
        PROCESS_ARTICLES_TASK,
        [list(batch)],
        queue=queue,
        argsrepr=f"[{len(batch)} articles: {ids}{more}]",
    )


def _forget_producers() -> None:
    _recent.clear()
    _producer.cache_clear()


os.register_at_fork(after_in_child=_forget_producers)
