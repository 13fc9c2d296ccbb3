"""The search page and JSON API over the real index."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("worker")]


def test_search_page_finds_and_highlights_safely(
    ingest_client: FlaskClient, web_client: FlaskClient, wait_indexed: Callable[[list[str]], None]
) -> None:
    hostile = {
        "title": "Zanzibar <script>alert('t')</script> ferry",
        "body": "The zanzibar ferry <script>alert('b')</script> <img src=x onerror=alert(1)> sailed late.",
        "source": "<b>Wire</b>",
    }
    response = ingest_client.post("/articles", json=hostile)
    article_id = response.get_json()["articles"][0]["id"]
    wait_indexed([article_id])

    page = web_client.get("/?q=zanzibar")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<mark>zanzibar</mark>" in html.lower()
    assert "<script>" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;" in html
    assert "Content-Security-Policy" in page.headers
    assert page.headers["X-Content-Type-Options"] == "nosniff"

    # Feeds stay well-formed: the markup is text inside them, never markup.
    import xml.etree.ElementTree as ET

    feed = ET.fromstring(web_client.get("/feed.atom?q=zanzibar").data)
    titles = [t.text for t in feed.iter("{http://www.w3.org/2005/Atom}title")]
    assert "Zanzibar <script>alert('t')</script> ferry" in titles

    article_page = web_client.get(f"/articles/{article_id}")
    assert article_page.status_code == 200
    assert "<script>" not in article_page.get_data(as_text=True)


def test_empty_query_lists_newest_and_paginates(web_client: FlaskClient) -> None:
    listing = web_client.get("/api/search?size=2").get_json()
    assert listing["total"] >= 1
    dates = [hit["published_at"] or "" for hit in listing["hits"]]
    assert dates == sorted(dates, reverse=True)
    assert web_client.get("/").status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        '"unclosed phrase',
        "a AND OR NOT",
        "((((",
        "-",
        "title:[* TO",
        "\\",
        "😀 ünïcödé",
        "*",
        "a|b -c +d~2",
    ],
)
def test_odd_queries_never_fail(web_client: FlaskClient, query: str) -> None:
    assert web_client.get("/api/search", query_string={"q": query}).status_code == 200
    assert web_client.get("/", query_string={"q": query}).status_code == 200


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"page": "0"}, 400),
        ({"page": "abc"}, 400),
        ({"size": "1000"}, 400),
        ({"page": "5000", "size": "10"}, 400),
        ({"q": "x" * 2000}, 400),
    ],
)
def test_bad_parameters_are_400_json(
    web_client: FlaskClient, params: dict[str, str], status: int
) -> None:
    response = web_client.get("/api/search", query_string=params)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert web_client.get("/", query_string=params).status_code == status


def test_unknown_article(web_client: FlaskClient) -> None:
    assert web_client.get("/api/articles/" + "f" * 32).status_code == 404
    assert web_client.get("/articles/" + "f" * 32).status_code == 404
