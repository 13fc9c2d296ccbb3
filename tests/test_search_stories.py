"""Search collapses by story (issue 17 item 3) over the real Elasticsearch and Redis, on indices of
this module's own prefixes: one entry per story with "N more in this story", near-duplicate
copies grouped among the articles without a story (indexed before stories: Elasticsearch's
collapse would put them all in one group), the switch (group=copies, group=off), the story
facet labelled from the Redis records, page = API, and an index from before stories (no
story.id in its mapping)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import lxml.html
import pytest
from flask import Flask
from flask.testing import FlaskClient

import web
from shared import stories
from shared.clients import get_elasticsearch, get_redis
from shared.index import bulk_index, ensure_index
from shared.settings import Settings
from tests.conftest import drop_data, signed_in_client
from tests.test_story_page import article_id, document, story_mappings
from web.backend import embed_query
from web.search import SearchRequest, search_articles

pytestmark = [pytest.mark.stack]

WORD = "quaggastory"  # only these articles hold it
OLD = "oldnote"  # only the articles without a story hold it
LONE = "lonecluster"  # only the articles of a story without clusters hold it


@dataclass(frozen=True)
class Site:
    settings: Settings
    app: Flask
    big: str  # a story of four matching articles (two of them copies of one text)
    small: str  # a story of one
    plain: tuple[str, ...]  # three articles without a story, two of them copies


def _doc(doc_id: str, day: str, source: str, story: str | None, **more: Any) -> dict[str, Any]:
    words = f"{WORD} {OLD}" if story is None else WORD
    doc = document(doc_id, title=f"{words} {day} {source}", source=source, day=day, story=story)
    return doc | more


def _index(settings: Settings, mappings: dict[str, Any], docs: list[dict[str, Any]]) -> None:
    es = get_elasticsearch(settings)
    ensure_index(es, settings, mappings)
    outcome = bulk_index(es, settings.articles_write_alias, docs)
    assert not outcome.failed, outcome
    assert not outcome.retry, outcome
    es.indices.refresh(index=settings.articles_alias)


@pytest.fixture(scope="module")
def site(services: None, settings: Settings) -> Iterator[Site]:
    own = Settings(index_prefix=f"{settings.index_prefix}-searchstories")
    big_ids = [article_id() for _ in range(4)]
    small_id = article_id()
    plain = tuple(article_id() for _ in range(3))
    big, small = f"s{big_ids[0]}", f"s{small_id}"
    copies = f"c{big_ids[2]}"
    old_copies = f"c{plain[0]}"
    docs = [
        _doc(big_ids[0], "2025-03-01", "Alpha Wire", big),
        _doc(big_ids[1], "2025-03-02", "Beta News", big),
        _doc(big_ids[2], "2025-03-03", "Alpha Wire", big, duplicates={"cluster_id": copies}),
        _doc(big_ids[3], "2025-03-03", "Beta News", big, duplicates={"cluster_id": copies}),
        _doc(small_id, "2025-03-04", "Gamma Post", small),
        # Indexed before stories: no story.id, no seen_at.
        _doc(plain[0], "2025-02-01", "Alpha Wire", None, duplicates={"cluster_id": old_copies}),
        _doc(plain[1], "2025-02-02", "Beta News", None, duplicates={"cluster_id": old_copies}),
        _doc(plain[2], "2025-02-03", "Gamma Post", None),
    ]
    # A story whose articles have no near-duplicate cluster (documents of a bench or a rebuild).
    lone = [article_id() for _ in range(2)]
    for number, doc_id in enumerate(lone):
        doc = document(
            doc_id, title=f"{LONE} {number}", source="Delta", day="2025-01-01", story=f"s{lone[0]}"
        )
        del doc["duplicates"]
        docs.append(doc)
    _index(own, story_mappings(), docs)
    r = get_redis(own)
    for story_id, title in ((big, "The big quagga story"), (small, "A small quagga story")):
        fields: dict[Any, str] = stories.encode_record({"id": story_id, "title": title})
        r.hset(stories.story_key(own.index_prefix, story_id), mapping=fields)
    app = web.create_app({"TESTING": True, "NEWSROOM_SETTINGS": own})
    try:
        yield Site(settings=own, app=app, big=big, small=small, plain=plain)
    finally:
        drop_data(own)


@pytest.fixture(scope="module")
def client(site: Site) -> FlaskClient:
    return signed_in_client(site.app)


def _api(client: FlaskClient, **params: Any) -> dict[str, Any]:
    response = client.get("/api/search", query_string={"q": WORD, "mode": "keyword", **params})
    assert response.status_code == 200, response.get_json()
    result: dict[str, Any] = response.get_json()
    return result


def _entries(result: dict[str, Any]) -> list[tuple[str | None, int | None, int | None]]:
    """Each hit's story, its story's matches and its copies."""
    return [
        (
            (hit["story"] or {}).get("id"),
            (hit["story"] or {}).get("matches"),
            hit["copies"],
        )
        for hit in result["hits"]
    ]


def test_one_entry_per_story_beside_the_clusters_of_articles_without_one(
    site: Site, client: FlaskClient
) -> None:
    result = _api(client, sort="newest")
    assert result["total"] == 8
    assert result["by_story"] is True
    # Newest first: the small story (03-04), the big one (newest 03-03), then the articles
    # without a story by cluster: the single one (02-03), the two copies as one (02-02).
    assert _entries(result) == [
        (site.small, 1, 1),
        (site.big, 4, 2),
        (None, None, 1),
        (None, None, 2),
    ]
    assert result["hits"][1]["story"]["title"] == "The big quagga story"
    assert result["pages"] == 1
    # The story facet, labelled with the records' titles.
    facet = {
        item["value"]: (item["count"], item.get("label")) for item in result["facets"]["story"]
    }
    assert facet == {
        site.big: (4, "The big quagga story"),
        site.small: (1, "A small quagga story"),
    }


def test_the_switch_lists_a_storys_articles_or_every_article(
    site: Site, client: FlaskClient
) -> None:
    copies = _api(client, sort="newest", group="copies")
    assert copies["by_story"] is False
    assert copies["grouped"] is True
    # The big story's four articles are three entries (two are copies of one text).
    assert [entry[0] for entry in _entries(copies)] == [
        site.small,
        site.big,
        site.big,
        site.big,
        None,
        None,
    ]
    assert all(hit["story"] is None or hit["story"]["matches"] is None for hit in copies["hits"])
    every = _api(client, sort="newest", group="off")
    assert len(every["hits"]) == 8
    assert every["grouped"] is False
    bad = client.get("/api/search", query_string={"q": WORD, "group": "sideways"})
    assert bad.status_code == 400
    assert bad.mimetype == "application/problem+json"


def test_paging_through_stories_and_clusters_lists_each_once(
    site: Site, client: FlaskClient
) -> None:
    """Pages of one entry: the two parts' rankings merged down to each page."""
    for sort in ("newest", "oldest", "relevance"):
        whole = _entries(_api(client, sort=sort))
        paged = []
        for page in range(1, 5):
            result = _api(client, sort=sort, size=1, page=page)
            assert result["pages"] == 4
            paged += _entries(result)
        assert paged == whole, sort
    assert _entries(_api(client, sort="oldest"))[0] == (None, None, 2)


def test_only_articles_without_a_story_group_by_copies(site: Site, client: FlaskClient) -> None:
    """A search matching none of the stories' articles lists clusters, as before stories."""
    result = _api(client, q=OLD, sort="newest")
    assert _entries(result) == [(None, None, 1), (None, None, 2)]
    assert result["pages"] == 1
    only_stories = _api(client, q=f"{WORD} -{OLD}", sort="newest")
    assert [entry[:2] for entry in _entries(only_stories)] == [(site.small, 1), (site.big, 4)]


def test_hybrid_search_groups_by_story_too(site: Site) -> None:
    es = get_elasticsearch(site.settings)
    alias = site.settings.articles_alias
    result = search_articles(es, alias, SearchRequest(query=WORD, stories=True), embed_query)
    assert result["mode"] == "hybrid"
    entries = sorted(_entries(result), key=str)  # type: ignore[arg-type]
    assert entries == sorted(
        [(site.small, 1, 1), (site.big, 4, 2), (None, None, 1), (None, None, 2)], key=str
    )


def test_page_shows_n_more_and_links_like_the_api(site: Site, client: FlaskClient) -> None:
    page = client.get("/", query_string={"q": WORD, "mode": "keyword", "sort": "newest"})
    assert page.status_code == 200
    tree = lxml.html.fromstring(page.get_data(as_text=True))
    links = tree.xpath("//ol[@class='results']//p[@class='story-link']/a")
    assert [a.text_content() for a in links] == [
        "Story: A small quagga story",
        "3 more in this story: The big quagga story",
    ]
    assert links[1].get("href") == f"/stories/{site.big}"
    switches = tree.xpath("//p[@class='grouping']/a/@href")
    assert any("group=off" in href for href in switches)
    assert any("group=copies" in href for href in switches)
    # The story facet as the API counts it (tests/test_search_facets.py checks every facet).
    values = tree.xpath("//section[@class='facet'][h2='Story']//span[@class='value']/text()")
    assert values == ["The big quagga story", "A small quagga story"]


def test_an_index_from_before_stories(services: None, settings: Settings) -> None:
    """An index whose mapping has no story.id (Elasticsearch refuses to collapse on a field it
    does not know): grouped by copies, as before, and no 4xx or 5xx."""
    own = Settings(index_prefix=f"{settings.index_prefix}-searchnostories")
    mappings = story_mappings()
    del mappings["properties"]["story"]
    ids = [article_id() for _ in range(3)]
    cluster = f"c{ids[0]}"
    docs = [
        _doc(ids[0], "2025-02-01", "Alpha Wire", None, duplicates={"cluster_id": cluster}),
        _doc(ids[1], "2025-02-02", "Beta News", None, duplicates={"cluster_id": cluster}),
        _doc(ids[2], "2025-02-03", "Gamma Post", None),
    ]
    for doc in docs:
        doc.pop("seen_at", None)
    try:
        _index(own, mappings, docs)
        client = signed_in_client(web.create_app({"TESTING": True, "NEWSROOM_SETTINGS": own}))
        result = _api(client, sort="newest")
        assert _entries(result) == [(None, None, 1), (None, None, 2)]
        assert client.get("/", query_string={"q": WORD}).status_code == 200
    finally:
        drop_data(own)


def test_a_story_of_articles_without_clusters(client: FlaskClient) -> None:
    """A page of stories and no near-duplicate cluster: counted all the same."""
    for mode in ("keyword", "hybrid"):
        result = _api(client, q=LONE, mode=mode)
        assert [entry[1:] for entry in _entries(result)] == [(2, 1)], mode
