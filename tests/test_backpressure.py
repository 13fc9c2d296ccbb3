"""Backpressure: a deep queue makes ingest answer 429 with Retry-After, keeping what it took."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

import ingest
from shared.clients import get_redis
from shared.settings import Settings
from shared.status import get_state


@pytest.fixture
def backlogged_client(services: None, settings: Settings) -> Iterator[tuple[FlaskClient, str]]:
    # A queue no worker consumes, so its depth only grows.
    queue = f"{settings.queue_name}-backlog"
    limited = settings.model_copy(
        update={"queue_name": queue, "ingest_max_queued_tasks": 2, "ingest_retry_after_s": 7}
    )
    app = ingest.create_app({"TESTING": True, "NEWSROOM_SETTINGS": limited})
    yield app.test_client(), queue
    get_redis(settings).delete(queue)


def test_a_deep_queue_answers_429_and_keeps_what_was_accepted(
    backlogged_client: tuple[FlaskClient, str], settings: Settings
) -> None:
    client, queue = backlogged_client
    accepted = []
    for number in range(2):
        response = client.post("/articles", json={"body": f"backpressure article {number}"})
        assert response.status_code == 202
        accepted.append(response.get_json()["articles"][0]["id"])

    refused = client.post("/articles", json={"body": "one too many"})
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "7"
    assert refused.mimetype == "application/problem+json"
    assert refused.get_json()["queued_tasks"] == 2

    redis_client = get_redis(settings)
    assert redis_client.llen(queue) == 2  # nothing accepted was dropped
    for article_id in accepted:
        state = get_state(redis_client, settings.index_prefix, article_id)
        assert state is not None
        assert state["state"] == "queued"


def test_the_limit_counts_tasks_waiting_not_ever_sent(
    backlogged_client: tuple[FlaskClient, str], settings: Settings
) -> None:
    """Once workers drain the queue, posts are accepted again."""
    client, queue = backlogged_client
    for number in range(2):
        assert client.post("/articles", json={"body": f"drain me {number}"}).status_code == 202
    assert client.post("/articles", json={"body": "refused"}).status_code == 429
    get_redis(settings).ltrim(queue, 1, 0)  # what a worker taking both tasks does to the list
    assert client.post("/articles", json={"body": "accepted again"}).status_code == 202


def test_archive_loads_go_to_the_bulk_queue(services: None, settings: Settings) -> None:
    """`?queue=bulk` keeps archive loads off the live queue (and its backlog off live posts)."""
    live, bulk = f"{settings.queue_name}-q-live", f"{settings.queue_name}-q-bulk"
    own = settings.model_copy(
        update={"queue_name": live, "bulk_queue_name": bulk, "ingest_max_queued_tasks": 1}
    )
    client = ingest.create_app({"TESTING": True, "NEWSROOM_SETTINGS": own}).test_client()
    redis_client = get_redis(settings)
    try:
        assert client.post("/articles?queue=bulk", json={"body": "archive 1"}).status_code == 202
        assert (redis_client.llen(live), redis_client.llen(bulk)) == (0, 1)
        # The bulk queue is full; the live one still takes articles.
        assert client.post("/articles?queue=bulk", json={"body": "archive 2"}).status_code == 429
        assert client.post("/articles", json={"body": "breaking"}).status_code == 202
        assert (redis_client.llen(live), redis_client.llen(bulk)) == (1, 1)
        wrong = client.post("/articles?queue=fast", json={"body": "x"})
        assert wrong.status_code == 400
        assert wrong.get_json()["parameter"] == "queue"
    finally:
        redis_client.delete(live, bulk)


def test_heavy_articles_take_the_bulk_queue_and_its_limit(
    services: None, settings: Settings
) -> None:
    """An article longer than NEWSROOM_INGEST_HEAVY_ARTICLE_CHARS posted to the live queue is
    queued on the bulk one, alone, its state saying so; while the bulk queue is full, such an
    article is refused (429) and a light one is still accepted on the live queue."""
    live, bulk = f"{settings.queue_name}-h-live", f"{settings.queue_name}-h-bulk"
    own = settings.model_copy(
        update={
            "queue_name": live,
            "bulk_queue_name": bulk,
            "ingest_max_queued_tasks": 2,
            "ingest_heavy_article_chars": 1000,
        }
    )
    client = ingest.create_app({"TESTING": True, "NEWSROOM_SETTINGS": own}).test_client()
    redis_client = get_redis(settings)
    try:
        posted = client.post(
            "/articles",
            json=[{"body": "h" * 1001 + " one"}, {"body": "light"}, {"body": "h" * 1001 + " two"}],
        )
        assert posted.status_code == 202
        heavy_id = posted.get_json()["articles"][0]["id"]
        assert (redis_client.llen(live), redis_client.llen(bulk)) == (1, 2)
        state = get_state(redis_client, settings.index_prefix, heavy_id)
        assert state is not None
        assert state["state"] == "queued"
        assert f"queued on {bulk}" in state["error"]
        refused = client.post("/articles", json={"body": "h" * 1001 + " three"})
        assert refused.status_code == 429
        assert client.post("/articles", json={"body": "light again"}).status_code == 202
        assert (redis_client.llen(live), redis_client.llen(bulk)) == (2, 2)
    finally:
        redis_client.delete(live, bulk)
