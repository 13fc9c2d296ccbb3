"""Issue 14, items 1-4 of search: in every mode the query's operators hold for every hit, the
counts describe what is listed, every page link answers, and copies are grouped."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.clients import get_elasticsearch
from shared.settings import Settings
from web.search import (
    FACET_SIZE,
    FUSION_DEPTH,
    MAX_RESULT_WINDOW,
    HardConstraints,
    SearchRequest,
    constraint_filters,
    group_copies,
    hard_constraints,
    page_count,
)

MODES = ("keyword", "hybrid", "semantic")

# --- the pure parts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('"crude oil" prices', HardConstraints(required=('"crude oil"',))),
        ("police -Israel", HardConstraints(excluded=("Israel",))),
        ("Arafat NOT Sharon", HardConstraints(excluded=("Sharon",))),
        ('Arafat NOT "West Bank"', HardConstraints(excluded=('"West Bank"',))),
        ('-"x y" z* "a b" -isra*', HardConstraints(('"a b"',), ('"x y"', "isra*"))),
        ("well-known AND a + -b", HardConstraints(excluded=("b",))),
        ('"unclosed phrase', HardConstraints(required=('"unclosed phrase"',))),
        ('"" - + oil', HardConstraints()),
        # Not split with certainty: the whole query is the constraint.
        ("a | b -c", HardConstraints(whole=True)),
        ("oil OR gas", HardConstraints(whole=True)),
        ("(a b) -c", HardConstraints(whole=True)),
        ("--b", HardConstraints(whole=True)),
        (r'"a \" b"', HardConstraints(whole=True)),
        (r"a\-b", HardConstraints(whole=True)),
        ('oil"gas"', HardConstraints(whole=True)),
    ],
)
def test_hard_constraints(query: str, expected: HardConstraints) -> None:
    assert hard_constraints(query) == expected


def test_constraints_become_filters_for_the_meaning_side() -> None:
    filters = constraint_filters(SearchRequest(query='"crude oil" prices -Israel'))
    assert [f["simple_query_string"]["query"] for f in filters[:1]] == ['"crude oil"']
    excluded = filters[1]["bool"]["must_not"]
    assert [f["simple_query_string"]["query"] for f in excluded] == ["Israel"]
    assert constraint_filters(SearchRequest(query="oil prices")) == []
    whole = constraint_filters(SearchRequest(query="oil OR gas"))
    assert whole[0]["simple_query_string"]["query"] == "oil | gas"


def test_group_copies_keeps_the_best_ranked_member() -> None:
    clusters = {"a": "c1", "b": "c2", "c": "c1", "d": None, "e": "c2"}
    assert group_copies(["c", "a", "d", "e", "b", "x"], clusters) == ["c", "d", "e", "x"]


def test_page_count_never_promises_an_empty_page() -> None:
    assert page_count("hybrid", 10, total=2274, listed=100) == FUSION_DEPTH // 10
    assert page_count("hybrid", 10, total=2274, listed=37) == 4
    assert page_count("semantic", 30, listed=100) == 3  # page 4 would pass FUSION_DEPTH
    assert page_count("semantic", 10, listed=0) == 1
    assert page_count("keyword", 10, total=50, groups=23) == 3
    assert page_count("keyword", 10, total=10**6, groups=10**5) == MAX_RESULT_WINDOW // 10
    assert page_count("keyword", 10, total=10**6) == MAX_RESULT_WINDOW  # cursors past 10,000


# --- through the stack -------------------------------------------------------------------------

MARK = "zephlawtest"  # in every article here, so a test can tell them apart
SENTENCES = [
    ("Alpha Wire", "Crude oil prices rose as the tanker reached the harbour before dawn."),
    ("Beta News", "Police in the harbour town arrested the tanker crew after a strike."),
    ("Gamma Post", "Refinery workers began a strike over oil pipeline safety and pay."),
    ("Alpha Wire", "The minister said crude imports through the pipeline would fall soon."),
    ("Beta News", "Police and port officials met the minister about harbour security."),
    ("Gamma Post", "Oil tanker traffic slowed at the port after the refinery fire."),
]
COPIED = 0  # SENTENCES[0] is posted three times, by three sources: one near-duplicate cluster
COPY_SOURCES = ("Alpha Wire", "Delta Daily", "Epsilon Times")
VOCABULARY = ["crude", "oil", "tanker", "harbour", "police", "strike", "pipeline", "minister"]
PHRASES = ["crude oil", "oil prices", "tanker crew", "oil pipeline", "harbour security"]


def _article(number: int, source: str, sentence: str) -> dict[str, Any]:
    return {
        "title": " ".join(sentence.split()[:5]),
        "body": f"{sentence} The {MARK} desk filed the report on the day it happened.",
        "source": source,
        "published_at": f"2025-0{1 + number % 6}-1{number % 9}T09:00:00Z",
        "url": f"https://law.example/{number}",
        "language": "en",
    }


@pytest.fixture(scope="module")
def indexed(ingest_app: Any, wait_indexed_module: Callable[[list[str]], None]) -> None:
    payload = [_article(n, source, sentence) for n, (source, sentence) in enumerate(SENTENCES)]
    payload += [
        _article(len(payload) + n, source, SENTENCES[COPIED][1])
        for n, source in enumerate(COPY_SOURCES[1:])
    ]
    response = ingest_app.test_client().post("/articles", json=payload)
    assert response.status_code == 202
    wait_indexed_module([a["id"] for a in response.get_json()["articles"]])


def _search(client: FlaskClient, **params: Any) -> dict[str, Any]:
    response = client.get("/api/search", query_string=params)
    assert response.status_code == 200, response.get_json()
    result: dict[str, Any] = response.get_json()
    return result


_TOKEN = re.compile(r"\w+(?:['’.]\w+)*")  # close to the standard analyzer's words


def _field_tokens(source: dict[str, Any]) -> list[list[str]]:
    """Each searched field's values as token lists (SEARCH_FIELDS: title, body, source,
    authors, dateline place)."""
    dateline = source.get("dateline") or {}
    place = (dateline.get("place") if isinstance(dateline, dict) else None) or ""
    values = [source.get("title") or "", source.get("body") or "", source.get("source") or ""]
    values += [*(source.get("authors") or []), place if isinstance(place, str) else ""]
    return [_TOKEN.findall(value.casefold()) for value in values]


def _contains(fields: list[list[str]], words: list[str]) -> bool:
    n = len(words)
    return any(tokens[i : i + n] == words for tokens in fields for i in range(len(tokens)))


def _check(fields: list[list[str]], constraints: HardConstraints) -> list[str]:
    """The constraints a hit breaks (phrases and words of the test vocabulary: plain words)."""
    broken = []
    for text in constraints.required:
        if not _contains(fields, text.strip('"').casefold().split()):
            broken.append(f"lacks {text}")
    for text in constraints.excluded:
        if _contains(fields, text.strip('"').casefold().split()):
            broken.append(f"has excluded {text}")
    return broken


def _sources(settings: Settings, ids: list[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    found = get_elasticsearch(settings).mget(
        index=settings.articles_alias,
        ids=ids,
        source_includes=["title", "body", "source", "authors", "dateline", "published_at"],
    )
    return {doc["_id"]: doc["_source"] for doc in found["docs"] if doc.get("found")}


_term = st.sampled_from(VOCABULARY)
_phrase = st.sampled_from(PHRASES).map(lambda p: f'"{p}"')
_part = st.one_of(
    _term,
    _phrase,
    _term.map(lambda w: f"-{w}"),
    _term.map(lambda w: f"NOT {w}"),
    _phrase.map(lambda p: f"-{p}"),
)


@pytest.mark.stack
@pytest.mark.usefixtures("worker", "indexed")
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@given(
    parts=st.lists(_part, min_size=1, max_size=4),
    source=st.sampled_from([None, "Alpha Wire", "Beta News"]),
    after_march=st.booleans(),
)
def test_every_hit_of_every_mode_keeps_the_operators(
    web_client: FlaskClient,
    settings: Settings,
    parts: list[str],
    source: str | None,
    after_march: bool,
) -> None:
    query = " ".join(parts)
    constraints = hard_constraints(query)
    params: dict[str, Any] = {"q": query, "size": 100, "group": "off"}
    if source:
        params["source"] = source
    if after_march:
        params["from"] = "2025-03-01"
    for mode in MODES:
        result = _search(web_client, mode=mode, **params)
        texts = _sources(settings, [hit["id"] for hit in result["hits"]])
        for hit in result["hits"]:
            article = texts[hit["id"]]
            broken = _check(_field_tokens(article), constraints)
            assert not broken, (mode, query, hit["id"], broken)
            if source:
                assert article["source"] == source, (mode, query, hit["id"])
            if after_march:
                assert (article.get("published_at") or "") >= "2025-03-01", (mode, query)
        # One truth: what is counted is what is listed (the candidate set fits one page here).
        assert result["total"] == result["total_words"] + result["total_meaning_only"]
        if result["total"] <= 100:
            assert len(result["hits"]) == result["total"], (mode, query, result["total"])
            # Each article has at most one source (other modules post some without); a
            # selected source counts alone (the facet's own selection leaves its other values
            # countable).
            counted = sum(
                item["count"] or 0
                for item in result["facets"]["source"]
                if item["selected"] or not source
            )
            with_source = sum(1 for hit in result["hits"] if texts[hit["id"]].get("source"))
            assert counted <= with_source, (mode, query)
            # All of them, when the facet lists every source (a query of exclusions alone
            # matches the whole test index, whose other modules add more than FACET_SIZE).
            if source or len(result["facets"]["source"]) < FACET_SIZE:
                assert counted == with_source, (mode, query)
        if mode == "keyword":
            assert result["total_meaning_only"] == 0


@pytest.mark.stack
@pytest.mark.usefixtures("worker", "indexed")
@pytest.mark.parametrize("mode", MODES)
def test_counts_split_words_and_meaning(web_client: FlaskClient, mode: str) -> None:
    # A rare exact word: the total says how many contain it, apart from meaning neighbours.
    result = _search(web_client, q="refinery", mode=mode, size=100, group="off")
    containing = [
        h for h in result["hits"] if "refinery" in (h["snippet"] + (h["title"] or "")).casefold()
    ]
    assert result["total"] == len(result["hits"]) <= 100
    assert result["total_words"] == len(containing)
    if mode != "semantic":
        assert len(containing) >= 2
    assert result["total_words"] + result["total_meaning_only"] == result["total"]
    # The timeline charts the same set (undated articles, from other modules, stay off it).
    assert sum(b["count"] for b in result["timeline"]["buckets"]) <= result["total"]


class _Page(HTMLParser):
    """A search page's result entries and its pager's next link."""

    def __init__(self) -> None:
        super().__init__()
        self.results = 0
        self.next: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "li" and found.get("class") == "result":
            self.results += 1
        if tag == "a" and found.get("rel") == "next":
            self.next = found.get("href")


@pytest.mark.stack
@pytest.mark.usefixtures("worker", "indexed")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("group", ["on", "off"])
def test_every_page_link_answers_with_hits(web_client: FlaskClient, mode: str, group: str) -> None:
    # Words only ANDs bare words: there, any of them.
    words = "oil OR tanker OR harbour" if mode == "keyword" else "an oil tanker in the harbour"
    params = {"q": words, "mode": mode, "size": 2, "group": group}
    expected = _search(web_client, **params)["pages"]
    url: str | None = "/?" + urlencode(params)
    visited = 0
    while url:
        response = web_client.get(url)
        assert response.status_code == 200, url
        page = _Page()
        page.feed(response.get_data(as_text=True))
        assert page.results > 0, url
        visited += 1
        url = page.next
    assert visited == expected
    assert expected > 1


@pytest.mark.stack
@pytest.mark.usefixtures("worker", "indexed")
@pytest.mark.parametrize("mode", MODES)
def test_copies_are_one_entry_until_asked_for(
    web_client: FlaskClient, settings: Settings, mode: str
) -> None:
    query = f"{MARK} crude oil prices tanker harbour"
    grouped = _search(web_client, q=query, mode=mode, size=100)
    title = _article(0, "", SENTENCES[COPIED][1])["title"]
    copies = [h for h in grouped["hits"] if h["title"] == title]
    assert len(copies) == 1, [h["id"] for h in grouped["hits"]]
    assert (copies[0]["copies"], copies[0]["copy_sources"]) == (3, 3)
    ids = [h["id"] for h in grouped["hits"]]
    found = get_elasticsearch(settings).search(
        index=settings.articles_alias,
        query={"ids": {"values": ids}},
        size=len(ids),
        source=False,
        docvalue_fields=[{"field": "duplicates.cluster_id"}],
    )
    clusters = [hit["fields"]["duplicates.cluster_id"][0] for hit in found["hits"]["hits"]]
    assert len(clusters) == len(set(clusters))  # one entry per near-duplicate cluster
    every = _search(web_client, q=query, mode=mode, size=100, group="off")
    titled = [h for h in every["hits"] if h["title"] == copies[0]["title"]]
    assert sorted(h["source"] for h in titled) == sorted(COPY_SOURCES)
    assert all(h["copies"] is None for h in every["hits"])
    page = web_client.get("/", query_string={"q": query, "mode": mode}).get_data(as_text=True)
    assert "3 copies from 3 sources" in page
    assert "group=off" in page
