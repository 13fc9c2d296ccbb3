"""Related stories and copies on entity pages (issue 14, items 4 and 5): the pure parts, then
one small set of articles on two subjects, one of them with a copy from another outlet,
indexed by the real worker."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from quality.related import ndcg, precision, split, tfidf_neighbours
from web.entities import shape_quotes, shape_story
from web.related import Weights, date_weight, entity_clauses, fuse

# --- pure parts --------------------------------------------------------------------------------


def _hit(doc_id: str, cluster: str | None = None, day: str | None = None) -> dict[str, Any]:
    source: dict[str, Any] = {"published_at": day}
    if cluster:
        source["duplicates"] = {"cluster_id": cluster}
    return {"_id": doc_id, "_source": source}


def test_fusion_lists_one_entry_per_cluster_and_counts_its_copies() -> None:
    rankings = {
        "words": [_hit("a", "c1"), _hit("b", "c1"), _hit("c", "c2")],
        "meaning": [_hit("b", "c1"), _hit("c", "c2"), _hit("d")],
    }
    fused = fuse(rankings, Weights(words=1, meaning=1, entities=0))
    assert [entry["_id"] for entry in fused] == ["b", "c", "d"]
    assert fused[0]["copies"] == ["a"]
    assert fused[0]["found_by"] == ["words", "meaning"]


def test_a_ranking_weighted_zero_adds_nothing() -> None:
    fused = fuse({"entities": [_hit("x")], "words": [_hit("y")]}, Weights(entities=0.0))
    assert [entry["_id"] for entry in fused] == ["y"]


def test_dates_far_apart_count_less_and_undated_ones_fully() -> None:
    day = datetime(2025, 3, 1, tzinfo=UTC)
    assert date_weight(day, None) == date_weight(None, day) == 1.0
    assert date_weight(day, datetime(2025, 3, 10, tzinfo=UTC)) == 1.0
    assert 0.3 <= date_weight(day, datetime(2025, 9, 1, tzinfo=UTC)) < 0.5
    assert date_weight(day, datetime(1990, 1, 1, tzinfo=UTC)) == 0.3
    # A date without a zone beside one with: compared, not refused.
    assert date_weight(day, datetime(2025, 3, 2)) == 1.0
    rankings = {"words": [_hit("old", day="2019-01-01T00:00:00Z"), _hit("near", day="2025-03-02")]}
    assert [e["_id"] for e in fuse(rankings, article_date=day)] == ["near", "old"]


def test_entity_clauses() -> None:
    article = {
        "people": ["Ann Lee"],
        "organisations": ["ECB"],
        "places": [{"name": "Paris", "geonameid": "2988507"}, {"name": "Nowhere"}],
    }
    assert entity_clauses(article) == [
        {"term": {"people": "Ann Lee"}},
        {"term": {"organisations": "ECB"}},
        {"term": {"places.geonameid": "2988507"}},
    ]


def test_quotes_of_copies_are_listed_once() -> None:
    def article(doc_id: str, cluster: str, *texts: str) -> dict[str, Any]:
        quotes = [{"speaker": "Ann Lee", "text": t, "start": n} for n, t in enumerate(texts)]
        source = {"title": doc_id, "quotes": quotes, "duplicates": {"cluster_id": cluster}}
        return {"_id": doc_id, "_source": source}

    hits = [
        article("copy", "story", "We will win.", "Not today."),
        article("original", "story", "We  will win.", "Not today.", "Only here."),
        article("other", "other story", "We will win."),
    ]
    quotes = shape_quotes(hits, ["Ann Lee"])
    assert [(q["text"], q["article"]["id"]) for q in quotes] == [
        ("We will win.", "copy"),
        ("Not today.", "copy"),
        ("Only here.", "original"),
        ("We will win.", "other"),  # another story quoting the same words: listed
    ]
    assert [c["id"] for c in quotes[0]["copies"]] == ["original"]


def test_a_collapsed_story_counts_its_copies_and_their_sources() -> None:
    # Three copies from two sources: the inner hits are collapsed by source.
    inner = {"total": {"value": 3}, "hits": [{"_id": "a"}, {"_id": "b"}]}
    story = shape_story(_hit("a", "c1") | {"inner_hits": {"copies": {"hits": inner}}})
    assert (story["copies"], story["copy_sources"]) == (3, 2)
    assert not shape_story(_hit("x")).get("copies")


def test_measures() -> None:
    assert ndcg(["a", "b"], {"a": 1.0, "b": 0.5}) == pytest.approx(1.0)
    assert ndcg(["b", "a"], {"a": 1.0, "b": 0.5}) < 1.0
    assert ndcg(["z"], {"a": 1.0}) == 0.0
    assert precision(["a", "x", "b", "y", "c"], {"a", "b", "c"}) == pytest.approx(0.6)
    halves = split([f"k{n}" for n in range(10)])
    assert len(halves["tune"]) == len(halves["test"]) == 5
    assert not set(halves["tune"]) & set(halves["test"])
    near = tfidf_neighbours(
        {"a": "oil prices rise", "b": "oil prices fall", "c": "football match won"}
    )
    assert near["a"][0] == "b"


# --- on the stack ------------------------------------------------------------------------------

# Two subjects, each with words of its own, so that no other test's articles are closer.
HARBOUR = (
    "Dockworkers at the port of Vostrany walked out on Monday over a plan to automate the "
    "container cranes, halting the unloading of grain ships for the third time this year. "
    '"We will not let robots take these jobs," said Marta Quillfeather, who leads the '
    "dockworkers union, speaking outside the harbour gates. The port authority said the "
    "automated cranes would make Vostrany competitive with larger harbours and that no "
    "worker would be dismissed. Shipping agents said at least nine vessels were waiting at "
    "anchor and that grain exporters faced penalties for every day of delay. "
    '"The strike will last as long as the plan stands," Quillfeather said. Talks between the '
    "union and the port authority are due to resume on Thursday, a mediator said."
)
# How another outlet ran the same wire story: new lede, a credit line.
HARBOUR_COPY = (
    "Vostrany dockers strike again over cranes. "
    + HARBOUR.split(". ", 1)[1]
    + " (Reporting by Ivo Brandt)"
)
HARBOUR_TOO = (
    "Grain exporters using the port of Vostrany asked the government to step in as the "
    "dockworkers strike over automated container cranes entered its fourth day. Ships "
    "waiting at anchor outside the harbour now number fourteen, shipping agents said, and "
    "exporters face penalties for each day of delay. The dockworkers union says the cranes "
    "threaten hundreds of jobs; the port authority insists no worker will be dismissed."
)
HARBOUR_THREE = (
    "The mediator in the Vostrany port dispute proposed that the automated cranes be "
    "introduced over five years, with dockworkers retrained to operate them. The union "
    "said it would put the offer to its members; grain ships remained at anchor."
)
ORCHARD = (
    "A late frost destroyed much of the apricot blossom in the Kelmira valley, growers said, "
    "and the harvest may be half of last year's. Orchard owners lit fires between the rows "
    "overnight to keep the blossom above freezing, but temperatures fell to minus four. "
    "The valley's growers cooperative said it would ask for drought and frost relief."
)
ORCHARD_TOO = (
    "Apricot prices at the Kelmira market doubled after the frost that hit the valley's "
    "orchards last week. Growers say the blossom was lost on most trees and that the "
    "cooperative will seek frost relief; jam makers are looking for fruit elsewhere."
)
ARTICLES = {
    "harbour": (HARBOUR, "Alpha Wire", "2025-04-07"),
    "harbour_copy": (HARBOUR_COPY, "Beta News", "2025-04-07"),
    "harbour_too": (HARBOUR_TOO, "Gamma Post", "2025-04-10"),
    "harbour_three": (HARBOUR_THREE, "Alpha Wire", "2025-04-12"),
    "orchard": (ORCHARD, "Delta Daily", "2025-04-08"),
    "orchard_too": (ORCHARD_TOO, "Gamma Post", "2025-04-14"),
}


@pytest.fixture(scope="module")
def ids(ingest_app: Any, wait_indexed_module: Callable[[list[str]], None]) -> dict[str, str]:
    client = ingest_app.test_client()
    names = list(ARTICLES)
    payload = [
        {
            "body": ARTICLES[name][0],
            "source": ARTICLES[name][1],
            "published_at": f"{ARTICLES[name][2]}T09:00:00Z",
            "language": "en",
        }
        for name in names
    ]
    # The original first, so that the copy joins its cluster.
    first = client.post("/articles", json=payload[:1])
    rest = client.post("/articles", json=payload[1:])
    assert first.status_code == rest.status_code == 202
    found = [a["id"] for a in first.get_json()["articles"] + rest.get_json()["articles"]]
    wait_indexed_module(found[:1])
    wait_indexed_module(found)
    return dict(zip(names, found, strict=True))


def _related(client: FlaskClient, article_id: str) -> dict[str, Any]:
    response = client.get(f"/api/articles/{article_id}/related")
    assert response.status_code == 200, response.get_json()
    found: dict[str, Any] = response.get_json()
    return found


@pytest.mark.stack
@pytest.mark.usefixtures("worker")
def test_related_stories_are_on_topic_and_copies_listed_apart(
    web_client: FlaskClient, ids: dict[str, str]
) -> None:
    name_of = {article_id: name for name, article_id in ids.items()}
    found = _related(web_client, ids["harbour"])
    assert [name_of.get(hit["id"]) for hit in found["same_story"]] == ["harbour_copy"]
    related = [name_of.get(hit["id"]) for hit in found["related"]]
    ours = [name for name in related if name]
    assert set(ours[:2]) == {"harbour_too", "harbour_three"}, related
    assert "harbour_copy" not in related
    assert "harbour" not in related
    assert not {"orchard", "orchard_too"} & set(related[:2])

    orchard = [name_of.get(hit["id"]) for hit in _related(web_client, ids["orchard"])["related"]]
    assert orchard[:1] == ["orchard_too"], orchard

    # From another story on the subject, the original and its copy are one entry.
    too = _related(web_client, ids["harbour_too"])
    assert too["same_story"] == []
    entries = [(name_of.get(hit["id"]), hit["copies"]) for hit in too["related"]]
    harbour = [entry for entry in entries if entry[0] in ("harbour", "harbour_copy")]
    assert len(harbour) == 1, entries
    assert harbour[0][1] == 2, entries

    page = web_client.get(f"/articles/{ids['harbour_too']}")
    assert page.status_code == 200
    assert b"2 copies from 2 sources" in page.data


@pytest.mark.stack
@pytest.mark.usefixtures("worker")
def test_entity_page_lists_a_copied_story_and_its_quotes_once(
    web_client: FlaskClient, ids: dict[str, str]
) -> None:
    response = web_client.get("/api/entities/person/Marta Quillfeather")
    assert response.status_code == 200, response.get_json()
    profile = response.get_json()
    assert profile["total"] == 2  # the original and the copy name her ...
    stories = [
        story
        for story in profile["stories"]
        if story["id"] in (ids["harbour"], ids["harbour_copy"])
    ]
    assert len(stories) == 1  # ... one story
    assert (stories[0]["copies"], stories[0]["copy_sources"]) == (2, 2)
    texts = [quote["text"] for quote in profile["quotes"]["items"]]
    assert len(texts) == len(set(texts)) >= 1, texts
    assert all(len(quote["copies"]) == 1 for quote in profile["quotes"]["items"])
    page = web_client.get("/entities/person/Marta Quillfeather")
    assert page.status_code == 200
    assert b"2 copies from 2 sources" in page.data
    # The switch shows every copy, on the page and in the API.
    assert b"Show every copy" in page.data
    every = web_client.get("/api/entities/person/Marta Quillfeather?group=off").get_json()
    listed = {story["id"] for story in every["stories"]}
    assert {ids["harbour"], ids["harbour_copy"]} <= listed
    page = web_client.get("/entities/person/Marta Quillfeather?group=off")
    assert page.status_code == 200
    assert b"Group copies" in page.data
    assert f'href="/articles/{ids["harbour_copy"]}"'.encode() in page.data
