"""Facets, dates, the timeline and sorting on the real index (issue 4, items 2-4)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import lxml.html
import pytest
from flask.testing import FlaskClient

from web.facets import FACETS, ON_PAGE

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("worker")]

WORD = "quokkafacet"  # only these articles contain it
# Sources come from the client and countries from datelines: both deterministic.
ARTICLES = [
    ("Alpha Wire", "2025-01-10", "PARIS, Jan. 10 (Alpha) — The harbour board met."),
    ("Alpha Wire", "2025-02-11", "BERLIN, Feb. 11 (Alpha) — The harbour board met again."),
    ("Beta News", "2025-02-20", "BERLIN, Feb. 20 (Beta) — Talks on the harbour went on."),
    ("Beta News", "2025-03-05", "PARIS, March 5 (Beta) — The harbour plan was signed."),
    ("Gamma Post", "2025-03-28", "MADRID, March 28 (Gamma) — A harbour study began."),
]


@pytest.fixture(scope="module")
def indexed(ingest_app: Any, wait_indexed_module: Callable[[list[str]], None]) -> None:
    client = ingest_app.test_client()
    payload = [
        {
            "title": f"{WORD} {number}",
            "body": f"{sentence} The {WORD} survey continued, officials said on the day.",
            "source": source,
            "published_at": f"{day}T09:00:00Z",
            "url": f"https://facets.example/{number}",
            "language": "en",
        }
        for number, (source, day, sentence) in enumerate(ARTICLES)
    ]
    response = client.post("/articles", json=payload)
    assert response.status_code == 202
    wait_indexed_module([a["id"] for a in response.get_json()["articles"]])


def _search(client: FlaskClient, **params: Any) -> dict[str, Any]:
    # Words only: exact counts. In hybrid mode any article near the query in meaning joins
    # them, and what else the shared test index holds depends on which modules ran before.
    response = client.get("/api/search", query_string={"q": WORD, "mode": "keyword", **params})
    assert response.status_code == 200, response.get_json()
    result: dict[str, Any] = response.get_json()
    return result


def _counts(result: dict[str, Any], facet: str) -> dict[str, int]:
    return {item["value"]: item["count"] for item in result["facets"][facet]}


@pytest.mark.usefixtures("indexed")
def test_facet_counts(web_client: FlaskClient) -> None:
    result = _search(web_client)
    assert result["total"] == 5
    assert _counts(result, "source") == {"Alpha Wire": 2, "Beta News": 2, "Gamma Post": 1}
    assert _counts(result, "country") == {"France": 2, "Germany": 2, "Spain": 1}


@pytest.mark.usefixtures("indexed")
def test_or_within_a_facet_and_across_facets(web_client: FlaskClient) -> None:
    either = _search(web_client, source=["Alpha Wire", "Gamma Post"])
    assert either["total"] == 3
    # The source facet still counts every source (its own selection does not narrow it) ...
    assert _counts(either, "source") == {"Alpha Wire": 2, "Beta News": 2, "Gamma Post": 1}
    # ... while the other facets count only what the selection leaves.
    assert _counts(either, "country") == {"France": 1, "Germany": 1, "Spain": 1}
    both = _search(web_client, source=["Alpha Wire", "Beta News"], country=["Germany"])
    assert both["total"] == 2
    assert _counts(both, "source") == {"Alpha Wire": 1, "Beta News": 1}
    assert _counts(both, "country") == {"France": 2, "Germany": 2}
    assert [item for item in both["facets"]["country"] if item["selected"]] == [
        {"value": "Germany", "count": 2, "selected": True}
    ]


@pytest.mark.usefixtures("indexed")
def test_dates_and_timeline(web_client: FlaskClient) -> None:
    february = _search(web_client, **{"from": "2025-02-01", "to": "2025-02-28"})
    assert february["total"] == 2
    everything = _search(web_client, sort="oldest")
    assert everything["hits"][0]["published_at"][:10] == "2025-01-10"
    timeline = everything["timeline"]
    assert timeline["interval"] == "week"
    assert sum(bucket["count"] for bucket in timeline["buckets"]) == 5
    page = web_client.get("/", query_string={"q": WORD}).get_data(as_text=True)
    assert "<svg" in page
    assert "Articles over time" in page
    # Every bar links to its own date range.
    timeline_html = page.split('class="timeline"', 1)[1]
    bar_link = timeline_html.split('<a href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    params = parse_qs(urlsplit(bar_link).query)
    # The first bar is the (Monday to Sunday) week of 10 January 2025.
    assert (params["from"], params["to"], params["q"]) == (["2025-01-06"], ["2025-01-12"], [WORD])


@pytest.mark.usefixtures("indexed")
def test_facet_links_in_the_page_toggle_values(web_client: FlaskClient) -> None:
    page = web_client.get("/", query_string={"q": WORD, "source": "Gamma Post"}).get_data(
        as_text=True
    )
    assert 'aria-pressed="true"' in page
    assert "source=Gamma+Post" in page.replace("%20", "+")
    assert "1 article for" in " ".join(page.split())


@pytest.mark.parametrize(
    "params",
    [
        {"from": "yesterday"},
        {"to": "2025-13-01"},
        {"from": "2025-03-01", "to": "2025-01-01"},
        {"sort": "random"},
    ],
)
def test_bad_filters_are_400(web_client: FlaskClient, params: dict[str, str]) -> None:
    response = web_client.get("/api/search", query_string={"q": WORD, **params})
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"


@pytest.mark.usefixtures("indexed")
@pytest.mark.parametrize("sort", ["relevance", "newest", "oldest"])
def test_cursor_paging_visits_every_hit_once(web_client: FlaskClient, sort: str) -> None:
    # Cursors page through keyword rankings; hybrid and semantic page within their top 100.
    seen: list[str] = []
    page = _search(web_client, size=2, sort=sort, mode="keyword")
    while True:
        seen += [hit["id"] for hit in page["hits"]]
        if not page["next_after"]:
            break
        page = _search(web_client, size=2, sort=sort, mode="keyword", after=page["next_after"])
    assert len(seen) == len(set(seen)) == 5
    first_page = _search(web_client, size=2, sort=sort, mode="keyword")["hits"]
    assert seen[:2] == [hit["id"] for hit in first_page]


def test_cursor_paging_goes_past_the_result_window(web_client: FlaskClient) -> None:
    assert (
        web_client.get("/api/search", query_string={"page": "1001", "size": "10"}).status_code
        == 400
    )
    first = web_client.get("/api/search", query_string={"size": "1"}).get_json()
    deep = web_client.get(
        "/api/search", query_string={"size": "1", "page": "1001", "after": first["next_after"]}
    )
    assert deep.status_code == 200


@pytest.mark.parametrize("cursor", ["nope", "W10", "eyJhIjoxfQ", "WzEsMiwzLDRd"])
def test_forged_cursors_are_400(web_client: FlaskClient, cursor: str) -> None:
    response = web_client.get("/api/search", query_string={"after": cursor})
    assert response.status_code == 400
    assert response.get_json()["parameter"] == "after"


# Shares no content word with the sample's text: only meaning can find it.
PARAPHRASE = "journalists of two Central Asian and Caucasus nations deepen ties"


@pytest.fixture(scope="module")
def sample_indexed(
    ingest_app: Any, wait_indexed_module: Callable[[list[str]], None], sample_text: str
) -> str:
    response = ingest_app.test_client().post(
        "/articles?source=Trend",
        data=sample_text.encode(),
        content_type="text/plain; charset=utf-8",
    )
    article_id: str = response.get_json()["articles"][0]["id"]
    wait_indexed_module([article_id])
    return article_id


def test_semantic_and_hybrid_find_what_words_miss(
    web_client: FlaskClient, sample_indexed: str
) -> None:
    keyword = web_client.get(
        "/api/search", query_string={"q": PARAPHRASE, "mode": "keyword"}
    ).get_json()
    assert keyword["total"] == 0
    for mode in ("semantic", "hybrid"):
        found = web_client.get(
            "/api/search", query_string={"q": PARAPHRASE, "mode": mode}
        ).get_json()
        assert found["mode"] == mode
        assert found["hits"][0]["id"] == sample_indexed, mode
    # Hybrid is the default; a keyword hit still comes first when the words match.
    default = web_client.get("/api/search", query_string={"q": "Saidzhanov"}).get_json()
    assert default["mode"] == "hybrid"
    assert default["hits"][0]["id"] == sample_indexed
    assert "<mark>Saidzhanov</mark>" in default["hits"][0]["snippet"]


def test_meaning_modes_page_within_their_depth(web_client: FlaskClient) -> None:
    too_deep = web_client.get(
        "/api/search", query_string={"q": "harbour", "page": "11", "size": "10"}
    )
    assert too_deep.status_code == 400
    assert (
        web_client.get(
            "/api/search", query_string={"q": "harbour", "page": "11", "mode": "keyword"}
        ).status_code
        == 200
    )
    assert web_client.get("/api/search", query_string={"mode": "fuzzy"}).status_code == 400


@pytest.mark.usefixtures("indexed")
def test_related_stories_are_alike_and_never_the_article_itself(web_client: FlaskClient) -> None:
    first = _search(web_client, sort="oldest", mode="keyword")["hits"][0]["id"]
    related = web_client.get(f"/api/articles/{first}/related").get_json()["related"]
    ids = [hit["id"] for hit in related]
    assert first not in ids
    assert ids
    assert all(WORD in (hit["title"] or "") for hit in related[:3])


@pytest.mark.usefixtures("indexed")
def test_export_pages_through_every_match(settings: Any) -> None:
    from shared.clients import get_elasticsearch
    from web.search import SearchRequest, export_rows

    request = SearchRequest(
        query=WORD, sort="oldest", filters={"source": ("Alpha Wire", "Beta News")}
    )
    rows = list(export_rows(get_elasticsearch(settings), settings.articles_alias, request, chunk=2))
    assert [row["published_at"][:10] for row in rows] == [
        "2025-01-10",
        "2025-02-11",
        "2025-02-20",
        "2025-03-05",
    ]
    assert len({row["id"] for row in rows}) == 4
    assert {row["dateline_country"] for row in rows} == {"France", "Germany"}


@pytest.mark.usefixtures("indexed")
def test_export_as_csv_and_ndjson(web_client: FlaskClient) -> None:
    import csv
    import io
    import json

    as_csv = web_client.get(
        "/api/export", query_string={"q": WORD, "format": "csv", "country": "France"}
    )
    assert as_csv.status_code == 200
    assert as_csv.mimetype == "text/csv"
    assert "attachment" in as_csv.headers["Content-Disposition"]
    table = list(csv.DictReader(io.StringIO(as_csv.get_data(as_text=True))))
    assert len(table) == 2
    assert {row["source"] for row in table} == {"Alpha Wire", "Beta News"}
    as_ndjson = web_client.get("/api/export", query_string={"q": WORD, "format": "ndjson"})
    lines = [json.loads(line) for line in as_ndjson.get_data(as_text=True).splitlines()]
    assert len(lines) == 5
    assert all(isinstance(line["places"], list) for line in lines)
    assert web_client.get("/api/export", query_string={"format": "xlsx"}).status_code == 400
    page = web_client.get("/", query_string={"q": WORD, "country": "France", "page": "1"}).get_data(
        as_text=True
    )
    links = [part.split('"', 1)[0].replace("&amp;", "&") for part in page.split('href="')[1:]]
    link = next(link for link in links if link.startswith("/api/export") and "format=csv" in link)
    assert parse_qs(urlsplit(link).query) == {"q": [WORD], "country": ["France"], "format": ["csv"]}


@pytest.mark.usefixtures("indexed")
def test_any_search_is_a_feed(web_client: FlaskClient) -> None:
    import xml.etree.ElementTree as ET

    atom = web_client.get("/feed.atom", query_string={"q": WORD})
    assert atom.status_code == 200
    assert atom.mimetype == "application/atom+xml"
    ns = {"a": "http://www.w3.org/2005/Atom"}
    feed = ET.fromstring(atom.data)
    entries = feed.findall("a:entry", ns)
    assert len(entries) == 5
    updated = [entry.findtext("a:updated", namespaces=ns) or "" for entry in entries]
    assert updated == sorted(updated, reverse=True)
    assert "/articles/" in (entries[0].find("a:link[@rel='alternate']", ns).get("href") or "")  # type: ignore[union-attr]
    as_json = web_client.get("/feed.json", query_string={"q": WORD, "country": "France"}).get_json()
    assert as_json["version"] == "https://jsonfeed.org/version/1.1"
    assert len(as_json["items"]) == 2
    page = web_client.get("/", query_string={"q": WORD}).get_data(as_text=True)
    assert 'type="application/atom+xml"' in page


@pytest.mark.usefixtures("indexed")
def test_did_you_mean(web_client: FlaskClient) -> None:
    # As typed (exact=1): nothing, and the correction offered (issue 14: without exact=1 the
    # corrected results are shown at once, tests/test_search_findable.py).
    misspelt = web_client.get(
        "/api/search", query_string={"q": "quokkafacte", "mode": "keyword", "exact": "1"}
    ).get_json()
    assert misspelt["total"] == 0
    assert misspelt["did_you_mean"] == WORD
    assert _search(web_client)["did_you_mean"] is None
    query = {"q": "quokkafacte", "exact": "1"}
    page = web_client.get("/", query_string=query).get_data(as_text=True)
    assert "Did you mean" in page
    assert f"q={WORD}" in page


def _page_facets(page: str, shown: dict[str, list[str]]) -> list[tuple[str, str, list[Any]]]:
    """The search page's facets as (name, heading, [(value, shown text, count, selected)]).
    A value's toggle link is the search with that value added (or, selected, removed): the
    parameter it changes names the facet, and the value it adds or removes is the value."""
    facets = []
    for section in lxml.html.fromstring(page).xpath(
        "//aside[@class='facets']/section[@class='facet']"
    ):
        names, values = set(), []
        for item in section.xpath(".//li"):
            toggle = item.xpath("a[@role='button']")[0]
            linked = parse_qs(urlsplit(toggle.get("href")).query)
            changed = {
                name: set(linked.get(name, [])) ^ set(shown.get(name, []))
                for name in FACETS
                if set(linked.get(name, [])) != set(shown.get(name, []))
            }
            assert len(changed) == 1, toggle.get("href")
            ((name, (value,)),) = ((n, tuple(v)) for n, v in changed.items())
            names.add(name)
            count = toggle.xpath("span[@class='count']")
            values.append(
                (
                    value,
                    toggle.xpath("span[@class='value']")[0].text_content(),
                    int(count[0].text_content().replace(",", "")) if count else None,
                    toggle.get("aria-pressed") == "true",
                )
            )
        assert len(names) == 1, names
        facets.append((names.pop(), section.xpath("h2")[0].text_content(), values))
    return facets


@pytest.mark.usefixtures("indexed", "sample_indexed")
@pytest.mark.parametrize(
    "params",
    [
        {"q": WORD},
        {"q": WORD, "source": ["Gamma Post", "Alpha Wire"], "country": ["Nowhere Land"]},
        # The sample names people, organisations and places (GeoNames ids shown by name).
        {"q": "Saidzhanov"},
        # Tashkent by its id, a place by name (an older link: no count) and one with no match.
        {"q": "Saidzhanov", "places": ["1512569", "Baku", "0"], "group": "off"},
    ],
    ids=["plain", "selections", "entities", "entities-selected"],
)
def test_the_page_and_the_api_show_the_same_facets(
    web_client: FlaskClient, params: dict[str, Any]
) -> None:
    """Names, headings, values (places by id, shown by name), counts and selections: the page's
    facets are the API's, in the page's order (FACETS' page_order), none left out."""
    params = {"mode": "keyword", **params}
    api = web_client.get("/api/search", query_string=params).get_json()
    response = web_client.get("/", query_string=params)
    assert response.status_code == 200
    shown = {name: [v] if isinstance(v, str) else v for name, v in params.items()}
    page = _page_facets(response.get_data(as_text=True), shown)
    expected = [
        (
            facet.name,
            facet.label,
            [
                (v["value"], v.get("label", v["value"]), v["count"], v["selected"])
                for v in api["facets"][facet.name]
            ],
        )
        for facet in ON_PAGE
        if api["facets"][facet.name]
    ]
    assert page == expected
    assert list(api["facets"]) == list(FACETS)
    assert len(page) >= 2
    if params["q"] == "Saidzhanov":
        places = {
            value[0]: value for name, _, values in page if name == "places" for value in values
        }
        tashkent = ("1512569", "Tashkent", 1, "places" in params)
        assert places["1512569"] == tashkent
        assert {name for name, _, _ in page} == set(FACETS)
