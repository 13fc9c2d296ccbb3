"""The story page and its API (issue 17 item 2) over the real Elasticsearch and Redis, on an index
of this module's own prefix: a story of several articles from two sources over several days
(two of them near-duplicate copies), a story merged into it, an article indexed before stories
existed (no story.id, no seen_at), hostile ids, and a taken-down article."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import lxml.html
import pytest
from flask import Flask
from flask.testing import FlaskClient

import web
from shared import stories, takedown
from shared.clients import get_elasticsearch, get_redis
from shared.index import bulk_index, ensure_index
from shared.settings import Settings
from shared.stories import StoryRecord
from tests.conftest import drop_data, signed_in_client
from web.stories import what_each_added
from worker.enrich.registry import article_mappings

pytestmark = [pytest.mark.stack]


def story_mappings() -> dict[str, Any]:
    """The worker's full mapping (its story stage declares story.id and seen_at)."""
    mappings = article_mappings()
    assert {"story", "seen_at"} <= set(mappings["properties"])
    return mappings


def article_id() -> str:
    return uuid.uuid4().hex


KELOWNA = {
    "name": "Kelowna",
    "geonameid": "5990579",
    "country": "Canada",
    "country_code": "CA",
    "kind": "city",
    "location": {"lat": 49.88307, "lon": -119.48568},
}
HOBART = {
    "name": "Hobart",
    "geonameid": "2163355",
    "country": "Australia",
    "country_code": "AU",
    "kind": "city",
    "location": {"lat": -42.87936, "lon": 147.32941},
}


def document(
    doc_id: str,
    *,
    title: str,
    source: str,
    day: str | None,
    story: str | None,
    cluster: str | None = None,
    people: list[str] | None = None,
    places: list[dict[str, Any]] | None = None,
    quotes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": doc_id,
        "title": title,
        "body": f"{title}. The ferry story goes on.",
        "source": source,
        "language": "en",
        "url": f"https://stories.example/{doc_id}",
        "received_at": f"{day or '2025-01-20'}T12:00:00+00:00",
        "people": people or [],
        "organisations": [],
        "places": places or [],
        "quotes": quotes or [],
        "duplicates": {"cluster_id": cluster or doc_id},
        "enrichment": {"version": "test", "steps": []},
    }
    if day:
        doc["published_at"] = f"{day}T09:00:00+00:00"
    if story:  # the worker's fields (absent from a document indexed before stories)
        doc["story"] = {"id": story, "similarity": None}
        doc["seen_at"] = doc.get("published_at") or doc["received_at"]
    return doc


@dataclass(frozen=True)
class Site:
    settings: Settings
    app: Flask
    story: str  # the live story
    merged: str  # a story merged into it
    first: str  # its first article
    copies: tuple[str, str]  # two near-duplicate copies
    merged_article: str  # an article still carrying the merged story's id
    taken_down: str
    plain: str  # an article without a story
    big: str  # a story of more articles than the page reads
    headless: str  # a story whose central article (its title's) was taken down


@pytest.fixture(scope="module")
def site(services: None, settings: Settings) -> Iterator[Site]:
    own = Settings(index_prefix=f"{settings.index_prefix}-storypage")
    es = get_elasticsearch(own)
    r = get_redis(own)
    ensure_index(es, own, story_mappings())
    first, copy_a, copy_b, later, merged_article, gone, plain = (article_id() for _ in range(7))
    story, merged = f"s{first}", f"s{merged_article}"
    cluster = f"c{copy_a}"
    big_ids = [article_id() for _ in range(5)]
    central, other = article_id(), article_id()
    headless = f"s{central}"
    big = f"s{big_ids[0]}"
    docs = [
        document(
            first,
            title="Ferry plan announced",
            source="Lakeside Gazette",
            day="2025-01-10",
            story=story,
            people=["Edda Marchetti"],
            places=[KELOWNA],
            quotes=[{"text": "We will run the ferry before winter.", "speaker": "Edda Marchetti"}],
        ),
        document(
            copy_a,
            title="Council backs ferry",
            source="Prairie Wire",
            day="2025-01-12",
            story=story,
            cluster=cluster,
            people=["Edda Marchetti", "Tom Okafor"],
            places=[KELOWNA],
            quotes=[
                {"text": "We will run the ferry before winter.", "speaker": "Edda Marchetti"},
                {"text": "The council agrees.", "speaker": "Tom Okafor"},
            ],
        ),
        document(
            copy_b,
            title="Council backs ferry (updated)",
            source="Lakeside Gazette",
            day="2025-01-12",
            story=story,
            cluster=cluster,
            people=["Tom Okafor"],
            places=[KELOWNA],
            quotes=[{"text": "The council agrees.", "speaker": "Tom Okafor"}],
        ),
        document(
            later,
            title="Ferry boss flies to Hobart",
            source="Prairie Wire",
            day="2025-01-15",
            story=story,
            people=["Edda Marchetti"],
            places=[HOBART],
        ),
        # Merged into the story, its article not re-stamped (the re-stamp is bounded).
        document(
            merged_article,
            title="Ferry timetable published",
            source="Prairie Wire",
            day="2025-01-16",
            story=merged,
            people=["Ana Lind"],
        ),
        document(
            gone, title="Ferry secret leaked", source="Leak Daily", day="2025-01-17", story=story
        ),
        document(
            central,
            title="Secret tunnel found",
            source="Leak Daily",
            day="2025-03-01",
            story=headless,
        ),
        document(
            other, title="Tunnel closed", source="Prairie Wire", day="2025-03-02", story=headless
        ),
        document(
            plain, title="An older ferry note", source="Lakeside Gazette", day=None, story=None
        ),
        *(
            document(
                doc_id,
                title=f"Bridge news {number}",
                source="Prairie Wire",
                day=f"2025-02-{10 + number:02d}",
                story=big,
                people=[f"Person {number}"],
            )
            for number, doc_id in enumerate(big_ids)
        ),
    ]
    outcome = bulk_index(es, own.articles_write_alias, docs)
    assert not outcome.failed, outcome
    assert not outcome.retry, outcome
    es.indices.refresh(index=own.articles_alias)
    records: list[StoryRecord] = [
        {
            "id": story,
            "title": "Council backs ferry",
            "central": copy_a,
            "first_seen": "2025-01-10T09:00:00+00:00",
            "last_updated": "2025-01-17T09:00:00+00:00",
            "article_count": 6,
            "merged": [merged],
        },
        {"id": merged, "title": "Ferry timetable published", "merged_into": story},
        {"id": big, "title": "Bridge news", "central": big_ids[0], "article_count": 5},
        {"id": headless, "title": "Secret tunnel found", "central": central, "article_count": 2},
    ]
    for record in records:
        fields: dict[Any, str] = dict(stories.encode_record(record))  # (hset's key types)
        r.hset(stories.story_key(own.index_prefix, record["id"]), mapping=fields)
    # Taken down: gone from the index (shared/takedown.py), its story's record unchanged.
    takedown.take_down(es, r, own, gone, "Court order", "test")
    takedown.take_down(es, r, own, central, "Court order", "test")
    app = web.create_app({"TESTING": True, "NEWSROOM_SETTINGS": own})
    try:
        yield Site(
            settings=own,
            app=app,
            story=story,
            merged=merged,
            first=first,
            copies=(copy_a, copy_b),
            merged_article=merged_article,
            taken_down=gone,
            plain=plain,
            big=big,
            headless=headless,
        )
    finally:
        drop_data(own)


@pytest.fixture(scope="module")
def client(site: Site) -> FlaskClient:
    return signed_in_client(site.app)


def _ids(story: dict[str, Any]) -> list[str]:
    return [a["id"] for group in story["groups"] for a in group["articles"]]


def test_story_api(site: Site, client: FlaskClient) -> None:
    response = client.get(f"/api/stories/{site.story}")
    assert response.status_code == 200, response.get_json()
    story = response.get_json()
    assert story["id"] == site.story
    assert story["requested"] is None
    assert story["title"] == "Council backs ferry"
    # Four articles of its own and one of the story merged into it; the taken-down one is gone.
    assert story["article_count"] == 5
    assert site.taken_down not in _ids(story)
    assert story["merged"] == [site.merged]
    assert story["first_seen"].startswith("2025-01-10T09:00")
    assert story["last_updated"].startswith("2025-01-16T09:00")
    assert {s["name"]: s["count"] for s in story["sources"]} == {
        "Prairie Wire": 3,
        "Lakeside Gazette": 2,
    }
    assert story["first_report"]["id"] == site.first
    # Coverage: one bar a day, by source.
    coverage = story["coverage"]
    assert coverage["interval"] == "day"
    by_day = {b["date"]: b for b in coverage["buckets"] if b["count"]}
    assert sorted(by_day) == ["2025-01-10", "2025-01-12", "2025-01-15", "2025-01-16"]
    assert {n["name"]: n["count"] for n in by_day["2025-01-12"]["sources"]} == {
        "Prairie Wire": 1,
        "Lakeside Gazette": 1,
    }
    # Groups: the two copies together, chronological.
    groups = [[a["id"] for a in g["articles"]] for g in story["groups"]]
    assert groups[0] == [site.first]
    assert sorted(groups[1]) == sorted(site.copies)
    assert groups[-1] == [site.merged_article]
    assert story["truncated"] is False
    assert story["articles_read"] == 5
    # Who was quoted: quotes counted, per speaker.
    assert {q["name"]: q["count"] for q in story["quoted"]} == {
        "Edda Marchetti": 2,
        "Tom Okafor": 2,
    }
    assert {p["name"] for p in story["places"]} == {"Kelowna", "Hobart"}
    # What each article added.
    added = {a["id"]: a["added"] for g in story["groups"] for a in g["articles"]}
    assert added[site.first]["people"] == ["Edda Marchetti"]
    assert added[site.first]["places"] == ["Kelowna"]
    first_copy, second_copy = sorted(site.copies)  # same day: ordered by id
    assert added[first_copy]["people"] == ["Tom Okafor"]
    assert [q["text"] for q in added[first_copy]["quotes"]] == ["The council agrees."]
    assert added[second_copy] == {"people": [], "places": [], "quotes": []}
    later = story["groups"][2]["articles"][0]
    assert later["added"]["places"] == ["Hobart"]
    assert later["added"]["people"] == []
    assert added[site.merged_article]["people"] == ["Ana Lind"]


def test_story_page(site: Site, client: FlaskClient) -> None:
    response = client.get(f"/stories/{site.story}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    tree = lxml.html.fromstring(html)
    assert tree.xpath("string(//h1)") == "Council backs ferry"
    # The coverage table: a row per day with articles, a column per source.
    headers = [th.text_content() for th in tree.xpath("//table[@class='coverage']//thead//th")]
    assert headers[1:3] == ["Prairie Wire", "Lakeside Gazette"]
    rows = tree.xpath("//table[@class='coverage']//tbody/tr")
    assert len(rows) == 4
    assert "Ferry plan announced" in tree.xpath(
        "string(//section[contains(@class,'first-report')])"
    )
    assert tree.xpath("//svg[contains(@class,'map')]")  # the places on the map
    links = tree.xpath("//section[contains(@class,'story-articles')]//a/@href")
    assert f"/articles/{site.first}" in links
    assert f"/articles/{site.taken_down}" not in html
    assert "Tom Okafor" in tree.xpath("string(//section[contains(@class,'quoted')])")
    assert not tree.xpath("//p[@class='notice']")  # every article read
    bars = tree.xpath("//figure[@class='timeline']//a/@href")
    assert len(bars) == 4  # a bar a day with articles, each a search within the story
    assert all(f"story={site.story}" in href for href in bars)
    # ... and the stories merged into it (their articles may not be re-stamped yet).
    within = tree.xpath("//a[text()='Search within this story']/@href")[0]
    assert f"story={site.merged}" in within
    assert client.get(within).status_code == 200
    listed = client.get("/api/search?" + within.split("?", 1)[1]).get_json()
    assert site.merged_article in {hit["id"] for hit in listed["hits"]}
    assert listed["total"] == 5
    # The article page links to its story.
    article = client.get(f"/articles/{site.first}").get_data(as_text=True)
    assert f'href="/stories/{site.story}"' in article


def test_merged_story(site: Site, client: FlaskClient) -> None:
    page = client.get(f"/stories/{site.merged}")
    assert page.status_code == 301
    assert page.headers["Location"].endswith(f"/stories/{site.story}")
    answer = client.get(f"/api/stories/{site.merged}")
    assert answer.status_code == 200
    assert answer.get_json()["id"] == site.story
    assert answer.get_json()["requested"] == site.merged


def test_a_big_story_says_it_was_cut(site: Site, client: FlaskClient) -> None:
    from web.stories import get_story

    story = get_story(
        get_elasticsearch(site.settings),
        get_redis(site.settings),
        site.settings,
        site.settings.articles_alias,
        site.big,
        max_articles=3,
    )
    assert story is not None
    assert story["article_count"] == 5
    assert story["articles_read"] == 3
    assert story["truncated"]
    assert [len(a["added"]["people"]) for g in story["groups"] for a in g["articles"]] == [1, 1, 1]


@pytest.mark.parametrize(
    "story_id",
    [
        "s" + "0" * 32,  # well-formed, unknown
        "nope",
        "s" + "g" * 32,
        "S" + "0" * 32,
        "s" + "0" * 5000,
        "%00",
        "s" + "0" * 31 + "\u00e9",
        "..",
    ],
)
def test_unknown_and_hostile_ids(client: FlaskClient, story_id: str) -> None:
    answer = client.get(f"/api/stories/{story_id}")
    assert answer.status_code == 404
    assert answer.mimetype == "application/problem+json"
    assert len(answer.get_data()) < 1000  # the id is not echoed back whole
    page = client.get(f"/stories/{story_id}")
    assert page.status_code == 404
    assert "notice error" in page.get_data(as_text=True)


def test_an_article_without_a_story_is_in_none(site: Site, client: FlaskClient) -> None:
    """A document indexed before stories (no story.id) is no story's, and no id finds it."""
    assert client.get(f"/api/stories/s{site.plain}").status_code == 404
    assert client.get(f"/api/articles/{site.plain}").status_code == 200


def test_what_each_added_unit() -> None:
    added = what_each_added(
        [
            {"people": ["A"], "places": [{"name": "X", "geonameid": "1"}], "quotes": []},
            {
                "people": ["A", "B"],
                "places": [{"name": "X (alt)", "geonameid": "1"}, {"name": "Y"}],
                "quotes": [{"text": "Hello  World", "speaker": "A"}],
            },
            {"people": [], "places": [{"name": "Y"}], "quotes": [{"text": "hello world"}]},
        ]
    )
    assert added == [
        {"people": ["A"], "places": ["X"], "quotes": []},
        {"people": ["B"], "places": ["Y"], "quotes": [{"speaker": "A", "text": "Hello  World"}]},
        {"people": [], "places": [], "quotes": []},
    ]


@pytest.fixture(scope="module")
def pipeline_story(services: None, settings: Settings) -> Iterator[tuple[Settings, list[str]]]:
    """One event told in other words over three days by two outlets, and an unrelated article
    naming the same person and town, through the worker's real pipeline (its story stage:
    worker/stories.py), into an index of this module's own prefix."""
    from shared.schema import ArticleIn, to_payload
    from tests.test_stories import NOW, TEXTS
    from worker.pipeline import process_batch

    own = Settings(index_prefix=f"{settings.index_prefix}-storypipeline")
    es, r = get_elasticsearch(own), get_redis(own)
    ids = []
    try:
        for number, key in enumerate(("ferry1", "ferry2", "ferry3", "bakery")):
            title, body, days_ago = TEXTS[key]
            article = ArticleIn(
                title=title,
                body=body,
                source=("Harbour Wire", "Coast Times")[number % 2],
                url=f"https://stories.example/pipeline/{key}",
                published_at=NOW - timedelta(days=days_ago, hours=1),
            )
            payload = to_payload(article, content_type="application/json", received_at=NOW)
            outcome = process_batch([payload], es=es, redis_client=r, settings=own)
            assert outcome.indexed == [payload["id"]]
            ids.append(payload["id"])
        es.indices.refresh(index=own.articles_alias)
        yield own, ids
    finally:
        drop_data(own)


def test_a_story_the_worker_assigned(pipeline_story: tuple[Settings, list[str]]) -> None:
    own, (first, second, third, bakery) = pipeline_story
    client = signed_in_client(web.create_app({"TESTING": True, "NEWSROOM_SETTINGS": own}))
    article = client.get(f"/api/articles/{first}").get_json()
    story_id = article["story"]["id"]
    story = client.get(f"/api/stories/{story_id}").get_json()
    assert story["article_count"] == 3
    assert story["first_report"]["id"] == first
    assert {s["name"] for s in story["sources"]} == {"Harbour Wire", "Coast Times"}
    assert len([b for b in story["coverage"]["buckets"] if b["count"]]) == 3  # three days
    listed = [a["id"] for g in story["groups"] for a in g["articles"]]
    assert listed == [first, second, third]  # oldest first
    assert "Helen Marsh" in story["groups"][0]["articles"][0]["added"]["people"]
    assert bakery not in listed
    page = client.get(f"/stories/{story_id}")
    assert page.status_code == 200
    assert f"/articles/{third}" in page.get_data(as_text=True)
    # Search: the story is one entry ("2 more in this story"), the namesake another.
    found = client.get(
        "/api/search", query_string={"q": "Helen Marsh", "mode": "keyword", "sort": "oldest"}
    ).get_json()
    entries = [
        ((hit["story"] or {}).get("id"), (hit["story"] or {}).get("matches"))
        for hit in found["hits"]
    ]
    assert entries == [(story_id, 3), (f"s{bakery}", 1)]
    assert found["total"] == 4
    every = client.get(
        "/api/search", query_string={"q": "Helen Marsh", "mode": "keyword", "group": "off"}
    ).get_json()
    assert len(every["hits"]) == 4


def test_a_taken_down_title_is_not_shown(site: Site, client: FlaskClient) -> None:
    """The record's title is its central article's: taken down, the first report's stands in."""
    story = client.get(f"/api/stories/{site.headless}").get_json()
    assert story["article_count"] == 1
    assert story["title"] == "Tunnel closed"
    page = client.get(f"/stories/{site.headless}").get_data(as_text=True)
    assert "Secret tunnel" not in page


def test_a_corrupt_record_is_read_around(site: Site, client: FlaskClient) -> None:
    """A story hash whose fields do not parse (hand-edited, half-written, another version)
    answers with what remains, never a 500: the story page and API, and the search that
    labels its hits with the record's title."""
    r = get_redis(site.settings)
    key = stories.story_key(site.settings.index_prefix, site.big)
    saved: dict[Any, Any] = dict(r.hgetall(key))
    r.hset(
        key,
        mapping={
            "merged": "[not json",
            "sources": '{"a": 1}',
            "people": '[1, {"name": 2, "count": "x"}, {"name": "Ok", "count": 3}]',
            "article_count": "many",
        },
    )
    try:
        record = stories.read_story(r, site.settings, site.big)
        assert record is not None
        assert record["merged"] == []
        assert record["sources"] == []
        assert record["people"] == [{"name": "Ok", "count": 3}]
        assert "article_count" not in record
        answer = client.get(f"/api/stories/{site.big}")
        assert answer.status_code == 200, answer.get_data(as_text=True)
        assert answer.get_json()["article_count"] == 5
        assert client.get(f"/stories/{site.big}").status_code == 200
        found = client.get("/api/search", query_string={"q": "Bridge news", "mode": "keyword"})
        assert found.status_code == 200, found.get_data(as_text=True)
        assert site.big in {(hit["story"] or {}).get("id") for hit in found.get_json()["hits"]}
    finally:
        r.delete(key)
        r.hset(key, mapping=saved)


def test_an_index_from_before_stories(services: None, settings: Settings) -> None:
    """An index whose mapping has neither story nor seen_at (made before stories; no worker of
    this version has added them yet): a story recorded in Redis still has its page (no
    articles), an unknown one is a 404, and what is rising is empty, never a 4xx or 5xx."""
    own = Settings(index_prefix=f"{settings.index_prefix}-storypage-old")
    mappings = story_mappings()
    del mappings["properties"]["story"]
    del mappings["properties"]["seen_at"]
    es = get_elasticsearch(own)
    ensure_index(es, own, mappings)
    doc = document(article_id(), title="Old ferry note", source="Old Wire", day=None, story=None)
    doc.pop("seen_at", None)
    doc.pop("story", None)
    try:
        assert not bulk_index(es, own.articles_write_alias, [doc]).failed
        es.indices.refresh(index=own.articles_alias)
        recorded = f"s{article_id()}"
        fields: dict[Any, str] = dict(stories.encode_record({"id": recorded, "title": "Ferry"}))
        get_redis(own).hset(stories.story_key(own.index_prefix, recorded), mapping=fields)
        client = signed_in_client(web.create_app({"TESTING": True, "NEWSROOM_SETTINGS": own}))
        answer = client.get(f"/api/stories/{recorded}")
        assert answer.status_code == 200, answer.get_data(as_text=True)
        assert answer.get_json()["article_count"] == 0
        assert client.get(f"/stories/{recorded}").status_code == 200
        assert client.get(f"/api/stories/s{article_id()}").status_code == 404
        rising = client.get("/api/rising")
        assert rising.status_code == 200, rising.get_data(as_text=True)
        assert client.get("/rising").status_code == 200
    finally:
        drop_data(own)


def test_a_story_of_many_sources_counts_them_all(site: Site, client: FlaskClient) -> None:
    """ "from N sources" counts every source, not only the 20 the list names."""
    es = get_elasticsearch(site.settings)
    story = f"s{article_id()}"
    docs = [
        document(
            article_id(), title=f"Dam news {n}", source=f"Wire {n}", day="2025-04-01", story=story
        )
        for n in range(25)
    ]
    assert not bulk_index(es, site.settings.articles_write_alias, docs).failed
    es.indices.refresh(index=site.settings.articles_alias)
    found = client.get(f"/api/stories/{story}").get_json()
    assert found["article_count"] == 25
    assert found["source_count"] == 25
    assert len(found["sources"]) == 20
    page = lxml.html.fromstring(client.get(f"/stories/{story}").get_data(as_text=True))
    facts = page.xpath("//p[contains(@class, 'story-facts')]")[0]
    assert "from 25 sources" in " ".join(facts.text_content().split())


def test_a_merge_cycle_does_not_redirect_forever(site: Site, client: FlaskClient) -> None:
    """Records merged into each other in a ring (two workers merging unguarded, or a corrupt
    store): every id of the ring resolves to one of them, so its page redirects once at most."""
    r = get_redis(site.settings)
    ring = [f"s{article_id()}" for _ in range(3)]
    for here, there in zip(ring, ring[1:] + ring[:1], strict=True):
        fields: dict[Any, str] = dict(
            stories.encode_record({"id": here, "title": "Ring", "merged_into": there})
        )
        r.hset(stories.story_key(site.settings.index_prefix, here), mapping=fields)
    try:
        lives = {stories.resolve(r, site.settings, story_id) for story_id in ring}
        assert len(lives) == 1
        for story_id in ring:
            path = f"/stories/{story_id}"
            for _ in range(2):
                answer = client.get(path)
                if answer.status_code != 301:
                    break
                path = answer.headers["Location"]
            assert answer.status_code == 200, (story_id, answer.status_code)
    finally:
        r.delete(*(stories.story_key(site.settings.index_prefix, s) for s in ring))
