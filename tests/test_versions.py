"""Idempotent, ordered indexing: replays rewrite nothing new, older payloads never win,
corrections bump the revision. Unit tests of the rules, then against the real index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.article import ArticlePayload, external_version
from shared.clients import get_elasticsearch, get_redis
from shared.schema import ArticleIn, to_payload
from shared.settings import Settings
from worker.pipeline import process_batch
from worker.versions import content_hash, next_revision


def _payload(title: str, received_at: datetime) -> ArticlePayload:
    article = ArticleIn(
        title=title,
        body="The harbour authority said on Monday that the north pier would reopen in May.",
        url="https://example.org/versions/harbour-pier",
        source="Versions Wire",
    )
    return to_payload(article, content_type="application/json", received_at=received_at)


def test_the_external_version_follows_acceptance_time() -> None:
    earlier = external_version("2025-09-30T10:00:00.000001+00:00")
    later = external_version("2025-09-30T10:00:00.000002+00:00")
    assert later == earlier + 1


def test_the_content_hash_ignores_when_it_arrived() -> None:
    now = datetime.now(UTC)
    first = _payload("Pier reopens", now)
    replay = _payload("Pier reopens", now + timedelta(hours=1))
    corrected = _payload("North pier reopens in May", now)
    assert content_hash(first) == content_hash(replay)
    assert content_hash(first) != content_hash(corrected)


def test_revisions() -> None:
    assert next_revision("a", None) == 1
    assert next_revision("a", {"revision": 3, "content_hash": "a"}) == 3
    assert next_revision("b", {"revision": 3, "content_hash": "a"}) == 4


def _stored(settings: Settings, article_id: str) -> dict[str, Any]:
    es = get_elasticsearch(settings)
    found = es.get(index=settings.articles_alias, id=article_id).body
    return {"_version": found["_version"], **found["_source"]}


def test_replays_corrections_and_late_old_versions(settings: Settings) -> None:
    es, redis_client = get_elasticsearch(settings), get_redis(settings)
    start = datetime.now(UTC)
    original = _payload("Pier reopens", start)
    article_id = original["id"]

    def run(payload: ArticlePayload) -> Any:
        return process_batch([payload], es=es, redis_client=redis_client, settings=settings)

    assert run(original).indexed == [article_id]
    first = _stored(settings, article_id)
    assert first["revision"] == 1
    assert first["_version"] == external_version(original["received_at"])

    # The same task delivered again (a worker died before acknowledging it).
    assert run(original).indexed == [article_id]
    assert _stored(settings, article_id)["revision"] == 1

    corrected = _payload("North pier reopens in May", start + timedelta(seconds=5))
    assert corrected["id"] == article_id
    assert run(corrected).indexed == [article_id]
    assert _stored(settings, article_id)["revision"] == 2

    # A retry of the original, overtaken by the correction, arrives last: refused.
    outcome = run(original)
    assert outcome.superseded == [article_id]
    assert outcome.indexed == []
    assert outcome.dead_lettered == {}
    latest = _stored(settings, article_id)
    assert latest["title"] == "North pier reopens in May"
    assert latest["revision"] == 2

    es.indices.refresh(index=settings.articles_alias)
    count = es.count(index=settings.articles_alias, query={"term": {"_id": article_id}})
    assert count["count"] == 1
