"""The task messages ingest and the CLI write themselves (shared/tasks.py), with their producer
app, against what the worker's Celery app's ``send_task`` writes."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from ingest import pressure
from shared import tasks
from shared.clients import get_broker_redis, get_redis
from shared.settings import Settings
from shared.tasks import PROCESS_ARTICLES_TASK
from worker.celery_app import app as celery_app

# Headers whose values differ from one message to the next (ids, the sender) or that say
# the same thing in other words (argsrepr: ids instead of a repr of every payload).
_PER_MESSAGE_HEADERS = {"id", "root_id", "origin", "argsrepr"}


def _stored(raw: str | bytes) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(raw)
    message["body"] = json.loads(base64.b64decode(message["body"]))
    return message


def test_messages_are_stored_as_send_task_stores_them(services: None, settings: Settings) -> None:
    client = get_broker_redis(settings)
    queue = f"{settings.queue_name}-broker-probe"
    args = [[{"id": "a" * 32, "title": "Café in Baku", "metadata": {"n": 1, "x": [None, 2.5]}}]]
    try:
        celery_app.send_task(PROCESS_ARTICLES_TASK, args=args, queue=queue)
        pipe = client.pipeline()
        tasks.push_tasks(
            pipe,
            queue,
            [
                tasks.encode_task_message(
                    tasks.get_task_producer(settings),
                    PROCESS_ARTICLES_TASK,
                    args,
                    queue=queue,
                    argsrepr="[1 article]",
                )
            ],
        )
        assert pipe.execute() == [2]  # LPUSH answers the new depth
        ours, celerys = (_stored(raw) for raw in client.lrange(queue, 0, -1))
    finally:
        client.delete(queue)

    assert ours["body"] == celerys["body"]
    assert set(ours) == set(celerys)
    for key in ("content-type", "content-encoding"):
        assert ours[key] == celerys[key]
    assert set(ours["headers"]) == set(celerys["headers"])
    for key, value in celerys["headers"].items():
        if key not in _PER_MESSAGE_HEADERS:
            assert ours["headers"][key] == value, key
    assert ours["headers"]["root_id"] == ours["headers"]["id"]
    assert ours["headers"]["argsrepr"] == "[1 article]"
    ours_properties = dict(ours["properties"])
    celerys_properties = dict(celerys["properties"])
    assert ours_properties.pop("correlation_id") == ours["headers"]["id"]
    for key in ("correlation_id", "delivery_tag", "reply_to"):
        celerys_properties.pop(key)
    assert ours_properties.pop("delivery_tag") != celerys["properties"]["delivery_tag"]
    assert ours_properties.pop("reply_to") == ""  # no results are kept (task_ignore_result)
    assert ours_properties == celerys_properties


def test_the_producer_is_configured_as_the_worker_app(settings: Settings) -> None:
    producer = tasks.get_task_producer(settings)
    assert producer is tasks.get_task_producer(settings.model_copy())  # one per configuration
    assert producer is not celery_app
    for key, value in tasks.celery_config(settings).items():
        assert producer.conf[key] == celery_app.conf[key] == value, key
    other = settings.model_copy(update={"webhook_queue_name": f"{settings.queue_name}-hooks"})
    routes = tasks.get_task_producer(other).conf.task_routes
    hooks = {"queue": f"{settings.queue_name}-hooks"}
    assert routes == {tasks.DELIVER_WEBHOOK_TASK: hooks, tasks.DELIVER_EMAIL_TASK: hooks}


def test_article_queues_are_named_by_the_settings(settings: Settings) -> None:
    assert tasks.article_queue(settings, "live") == settings.queue_name
    assert tasks.article_queue(settings, "bulk") == settings.bulk_queue_name
    with pytest.raises(ValueError, match="no article queue"):
        tasks.article_queue(settings, "webhooks")


def test_queue_depth_is_reused_briefly_and_only_under_the_limit(
    services: None, settings: Settings
) -> None:
    client = get_broker_redis(settings)
    store = get_redis(settings)
    queue = f"{settings.queue_name}-depth-probe"
    limited = settings.model_copy(update={"ingest_max_queued_tasks": 3})
    client.delete(queue)

    def depth() -> int:
        return pressure.current_load(client, store, queue, limited).queued_tasks

    try:
        assert depth() == 0
        client.rpush(queue, "x", "y")
        assert depth() == 0  # read within MAX_AGE_S
        time.sleep(pressure.MAX_AGE_S * 1.5)
        assert depth() == 2
        # An LPUSH reply said 3: at the limit, so it is read again at once.
        pressure.note_pushed(client, store, queue, limited, depth=3, size=10, articles=3, tasks=3)
        assert depth() == 2
    finally:
        client.delete(queue)
