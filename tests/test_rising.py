"""What is rising (issue 17, item 4): /api/rising and /rising against the real Elasticsearch, on
documents indexed into an index prefix of this module's own, their ``seen_at`` spread over the
last 15 days."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

import web
from shared import stories
from shared.clients import get_elasticsearch, get_redis
from shared.index import bulk_index, ensure_index
from shared.rising import windows
from shared.settings import Settings
from tests.conftest import drop_data
from web.rising import CANDIDATES, KINDS, baseline_body, recent_body, story_groups
from worker.enrich.registry import article_mappings

TAG = uuid.uuid4().hex[:6]
RISING_PERSON = f"Rosa Riser {TAG}"
STEADY_PERSON = f"Stan Steady {TAG}"
NEW_FEW = f"Nina Fewtimes {TAG}"
RISING_ORG = f"Risecorp {TAG}"
RISING_KEYWORD = f"rising tide {TAG}"
RISING_PLACE = "2950159"  # Berlin's GeoNames id
RISING_STORY = f"srise{TAG}"
MERGED_STORY = f"smerged{TAG}"


def _mappings() -> dict[str, Any]:
    """The worker's full mapping (``story`` and ``seen_at`` come with the story step)."""
    mappings = article_mappings()
    properties = mappings["properties"]
    assert "seen_at" in properties, "the worker's mapping has no seen_at (issue 17's contract)"
    return mappings


def _doc(seen: datetime | None, **fields: Any) -> dict[str, Any]:
    article_id = uuid.uuid4().hex
    doc: dict[str, Any] = {
        "id": article_id,
        "title": f"Article {article_id[:6]}",
        "body": "Text.",
        "source": "Rising Wire",
        "received_at": datetime.now(UTC).isoformat(),
        **fields,
    }
    if seen is not None:
        doc["seen_at"] = seen.isoformat()
    return doc


def _documents(now: datetime) -> list[dict[str, Any]]:
    docs = []
    for day in range(1, 15):  # the baseline: one a day for the riser, three for the steady one
        at = now - timedelta(days=day, hours=3)
        docs.append(_doc(at, people=[RISING_PERSON], organisations=[RISING_ORG]))
        docs += [_doc(at, people=[STEADY_PERSON]) for _ in range(3)]
        if day % 7 == 0:
            docs.append(_doc(at, keywords=[RISING_KEYWORD]))
            docs.append(_doc(at, story={"id": MERGED_STORY, "similarity": None}))
    for hour in range(12):  # the last day: the riser jumps, the steady one stays steady
        at = now - timedelta(hours=hour, minutes=5)
        docs.append(
            _doc(
                at,
                people=[RISING_PERSON],
                organisations=[RISING_ORG],
                keywords=[RISING_KEYWORD],
                places=[{"geonameid": RISING_PLACE, "name": "Berlin"}],
                story={"id": RISING_STORY, "similarity": 0.9},
            )
        )
    docs += [_doc(now - timedelta(hours=h * 8 + 1), people=[STEADY_PERSON]) for h in range(3)]
    # Seen twice today and never before: unlikely, but too few to rise.
    docs += [_doc(now - timedelta(hours=2), people=[NEW_FEW]) for _ in range(2)]
    # Articles without seen_at (indexed before stories) are left out, however many.
    docs += [_doc(None, people=[RISING_PERSON, STEADY_PERSON]) for _ in range(30)]
    return docs


@pytest.fixture(scope="module")
def own(services: None, settings: Settings) -> Iterator[Settings]:
    own = settings.model_copy(update={"index_prefix": f"{settings.index_prefix}-rising"})
    es = get_elasticsearch(own)
    write = ensure_index(es, own, _mappings())
    outcome = bulk_index(es, write, _documents(datetime.now(UTC)))
    assert not outcome.failed, outcome.failed
    es.indices.refresh(index=own.articles_alias)
    redis_client = get_redis(own)
    merged: stories.StoryRecord = {"id": MERGED_STORY, "merged_into": RISING_STORY}
    # The story the rising articles carry absorbed another (its older articles keep that id).
    live: stories.StoryRecord = {
        "id": RISING_STORY,
        "title": "The tide rises in Berlin",
        "article_count": 14,
        "merged": [MERGED_STORY],
    }
    for record in (live, merged):
        key = stories.story_key(own.index_prefix, record["id"])
        redis_client.hset(key, mapping=dict(stories.encode_record(record)))  # type: ignore[arg-type]
    yield own
    drop_data(own)


@pytest.fixture(scope="module")
def client(own: Settings) -> FlaskClient:
    app: Flask = web.create_app({"TESTING": True, "NEWSROOM_SETTINGS": own})
    return app.test_client()


def _api(client: FlaskClient, **args: Any) -> dict[str, Any]:
    response = client.get("/api/rising", query_string=args)
    assert response.status_code == 200, response.get_json()
    found: dict[str, Any] = response.get_json()
    return found


def test_a_jump_in_the_last_day_is_listed_first(client: FlaskClient) -> None:
    found = _api(client, kind="people")
    assert list(found["kinds"]) == ["people"]
    people = found["kinds"]["people"]
    assert people, found
    top = people[0]
    assert top["value"] == RISING_PERSON
    # Exactly its documents with seen_at: those without are left out.
    assert (top["recent"], top["baseline"]) == (12, 14)
    assert top["expected"] == pytest.approx((14 + 0.5) / 14, abs=0.01)
    assert top["score"] > 3
    assert top["url"] == f"/entities/person/{RISING_PERSON.replace(' ', '%20')}"
    listed = {item["value"] for item in people}
    assert STEADY_PERSON not in listed
    assert NEW_FEW not in listed
    assert found["recent_hours"] == 24
    assert found["baseline_days"] == 14


def test_every_kind(client: FlaskClient) -> None:
    found = _api(client)
    assert list(found["kinds"]) == list(KINDS)
    kinds = found["kinds"]
    assert kinds["organisations"][0]["value"] == RISING_ORG
    assert kinds["organisations"][0]["url"].startswith("/entities/organisation/")
    keyword = next(i for i in kinds["keywords"] if i["value"] == RISING_KEYWORD)
    assert keyword["url"].startswith("/?keywords=")
    place = kinds["places"][0]
    assert (place["value"], place["label"]) == (RISING_PLACE, "Berlin")
    assert place["url"] == f"/entities/place/{RISING_PLACE}"
    story = kinds["stories"][0]
    assert story["value"] == RISING_STORY
    assert story["label"] == "The tide rises in Berlin"
    # The merged-away story's two baseline articles count with the story it joined.
    assert (story["recent"], story["baseline"]) == (12, 2)
    assert story["url"].endswith(f"/{RISING_STORY}")


def test_windows_are_parameters(client: FlaskClient) -> None:
    # A 2-hour recent window: the riser has 2 articles in it (under the minimum count).
    short = _api(client, kind="people", recent_hours=2)
    assert short["recent_hours"] == 2
    assert RISING_PERSON not in {item["value"] for item in short["kinds"]["people"]}
    # A 3-day baseline still finds the jump; a limit of 1 lists one.
    found = _api(client, kind=["people", "organisations"], baseline_days=3, limit=1)
    assert list(found["kinds"]) == ["people", "organisations"]
    assert [item["value"] for item in found["kinds"]["people"]] == [RISING_PERSON]
    assert found["kinds"]["people"][0]["baseline"] == 3


@pytest.mark.parametrize(
    ("args", "parameter"),
    [
        ({"kind": "gossip"}, "kind"),
        ({"kind": "people\x00"}, "kind"),
        ({"recent_hours": "0"}, "recent_hours"),
        ({"recent_hours": "-1"}, "recent_hours"),
        ({"recent_hours": "169"}, "recent_hours"),
        ({"recent_hours": "1e3"}, "recent_hours"),
        ({"recent_hours": "9" * 5000}, "recent_hours"),
        ({"baseline_days": "91"}, "baseline_days"),
        ({"baseline_days": "²"}, "baseline_days"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
    ],
)
def test_hostile_parameters_are_a_400(
    client: FlaskClient, args: dict[str, str], parameter: str
) -> None:
    response = client.get("/api/rising", query_string=args)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["parameter"] == parameter
    assert client.get("/rising", query_string=args).status_code == 400


def test_the_page(client: FlaskClient) -> None:
    response = client.get("/rising")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<h1>What is rising</h1>" in page
    assert RISING_PERSON in page
    assert "The tide rises in Berlin" in page
    assert STEADY_PERSON not in page
    assert 'href="/rising"' in page  # the nav
    # Its JSON link carries the parsed parameters only, never what else was given.
    hostile = client.get("/rising?recent_hours=48&_external=1&_scheme=javascript&_anchor=x")
    assert hostile.status_code == 200
    text = hostile.get_data(as_text=True)
    assert "javascript" not in text
    assert "recent_hours=48" in text


def test_an_empty_index_lists_nothing(services: None, settings: Settings) -> None:
    empty = settings.model_copy(update={"index_prefix": f"{settings.index_prefix}-nothing"})
    app = web.create_app({"TESTING": True, "NEWSROOM_SETTINGS": empty})
    found = app.test_client().get("/api/rising").get_json()
    assert found["kinds"] == {kind: [] for kind in KINDS}


def test_request_bodies_are_bounded_and_unscored() -> None:
    span = windows(datetime(2026, 1, 15, 12, 30, 45, tzinfo=UTC), 24, 14)
    assert span.end == datetime(2026, 1, 15, 12, 31, tzinfo=UTC)
    assert span.ratio == pytest.approx(1 / 14)
    recent = recent_body({"people": "people", "stories": "story.id"}, span, 3)
    assert recent["size"] == 0
    assert "must" not in recent["query"]["bool"]  # filter context only
    assert recent["aggs"]["people"]["terms"]["size"] == CANDIDATES
    assert recent["aggs"]["people"]["terms"]["min_doc_count"] == 3
    assert recent["aggs"]["stories"]["terms"]["field"] == "story.id"
    assert "script" not in str(recent)
    baseline = baseline_body(
        {"people": ("people", ["a", "b"]), "stories": ("story.id", ["s"])}, span
    )
    people = baseline["aggs"]["people"]
    assert people["filter"] == {"terms": {"people": ["a", "b"]}}
    assert people["aggs"]["values"]["terms"]["include"] == ["a", "b"]
    assert baseline["query"]["bool"]["filter"][0]["range"]["seen_at"] == {
        "gte": "2025-12-31T12:31:00Z",
        "lt": "2026-01-14T12:31:00Z",
    }
    # Only articles naming one of the values are visited.
    assert baseline["query"]["bool"]["filter"][1] == {
        "bool": {"should": [{"terms": {"people": ["a", "b"]}}, {"terms": {"story.id": ["s"]}}]}
    }


def test_story_groups() -> None:
    records: dict[str, stories.StoryRecord] = {
        "s1": {"id": "s1", "merged": ["s0"]},
        "s0": {"id": "s1"},  # read_stories follows a merge: the record of the live story
    }
    assert story_groups(records, ["s1", "s0", "s9"]) == {"s1": ["s1", "s0"], "s9": ["s9"]}


def test_a_merged_storys_recent_articles_count_with_the_story_it_joined(
    services: None, settings: Settings
) -> None:
    """A story merged into another whose recent articles still carry its id (beyond the
    re-stamp bound, or indexed while the merge was made) but are too few to be a candidate
    of their own: counted with the story they joined, not left out."""
    own = settings.model_copy(update={"index_prefix": f"{settings.index_prefix}-risingmerge"})
    es = get_elasticsearch(own)
    now = datetime.now(UTC)
    live, merged = f"slive{TAG}", f"sgone{TAG}"
    docs = [
        _doc(now - timedelta(hours=h + 1), story={"id": live, "similarity": 0.9}) for h in range(3)
    ] + [
        _doc(now - timedelta(hours=h + 1), story={"id": merged, "similarity": 0.9})
        for h in range(2)
    ]
    try:
        write = ensure_index(es, own, _mappings())
        assert not bulk_index(es, write, docs).failed
        es.indices.refresh(index=own.articles_alias)
        redis_client = get_redis(own)
        records: list[stories.StoryRecord] = [
            {"id": live, "title": "Joined", "merged": [merged]},
            {"id": merged, "merged_into": live},
        ]
        for record in records:
            key = stories.story_key(own.index_prefix, record["id"])
            redis_client.hset(key, mapping=dict(stories.encode_record(record)))  # type: ignore[arg-type]
        client = web.create_app({"TESTING": True, "NEWSROOM_SETTINGS": own}).test_client()
        found = client.get("/api/rising", query_string={"kind": "stories"}).get_json()
        (story,) = found["kinds"]["stories"]
        assert (story["value"], story["label"]) == (live, "Joined")
        assert (story["recent"], story["baseline"]) == (5, 0)
    finally:
        drop_data(own)
