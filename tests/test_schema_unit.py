"""Unit tests of ids, the article schema and request parsing (no services needed)."""

from __future__ import annotations

import json
import re

import pytest

from ingest.parsing import parse_articles
from shared.article import ARTICLE_ID_PATTERN, is_article_id
from shared.http import ApiError
from shared.schema import ArticleIn, article_id, canonical_url


def test_id_from_url_ignores_cosmetic_differences() -> None:
    a = article_id(url="HTTPS://Example.com:443/news/1/#top", source="x", title="a", body="b")
    b = article_id(url="https://example.com/news/1", source="y", title="c", body="d")
    assert a == b
    assert len(a) == 32
    assert canonical_url("http://EXAMPLE.com:8080/a/?q=1#x") == "http://example.com:8080/a?q=1"


def test_every_id_matches_the_one_article_id_pattern() -> None:
    made = article_id(url="https://example.com/news/1", source=None, title=None, body="b")
    assert is_article_id(made)
    assert re.fullmatch(ARTICLE_ID_PATTERN, made)
    for other in ("A" * 32, "a" * 31, "a" * 33, "g" * 32, "a" * 32 + "\n", ""):
        assert not is_article_id(other), repr(other)


def test_id_from_text_when_no_url() -> None:
    a = article_id(url=None, source="Trend", title=None, body="Some   text\n here")
    assert a == article_id(url=None, source="Trend", title=None, body="Some text here")
    assert a != article_id(url=None, source="Other", title=None, body="Some text here")


def test_unknown_fields_are_kept_as_metadata() -> None:
    article = ArticleIn.model_validate({"body": "x", "section": "World", "metadata": {"desk": "A"}})
    assert article.all_metadata() == {"desk": "A", "section": "World"}


def test_authors_as_a_string() -> None:
    assert ArticleIn.model_validate({"body": "x", "authors": "A. One; B. Two"}).authors == [
        "A. One",
        "B. Two",
    ]


def _parse(raw: bytes, mimetype: str, query: dict[str, str] | None = None) -> object:
    return parse_articles(raw, mimetype, query or {}, max_articles=10)


@pytest.mark.parametrize(
    ("raw", "mimetype", "status", "needle"),
    [
        (b"", "application/json", 400, "empty"),
        (b"   \n", "text/plain", 400, "empty"),
        (b'{"body": ', "application/json", 400, "line 1"),
        (b"[]", "application/json", 400, "no articles"),
        (b'{"body": "a"}\n{oops}\n', "application/x-ndjson", 400, "line 2"),
        (b"\xff\xfe body", "text/plain", 400, "UTF-8"),
        (b"<p>x</p>", "application/xml", 415, "application/json"),
        (b"x", "", 415, "Content-Type"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "nested"),
    ],
)
def test_unreadable_bodies(raw: bytes, mimetype: str, status: int, needle: str) -> None:
    with pytest.raises(ApiError) as caught:
        _parse(raw, mimetype)
    assert caught.value.status == status
    assert needle.lower() in caught.value.detail.lower()


def test_invalid_articles_are_rejected_with_their_fields() -> None:
    lines = [
        json.dumps({"body": "ok"}),
        json.dumps({"title": "no body"}),
        json.dumps(["not an object"]),
    ]
    parsed = parse_articles("\n".join(lines).encode(), "application/x-ndjson", {}, max_articles=10)
    assert len(parsed.articles) == 1
    assert [r.position for r in parsed.rejected] == [2, 3]
    assert parsed.rejected[0].errors[0]["field"] == "body"


def test_too_many_articles() -> None:
    with pytest.raises(ApiError) as caught:
        parse_articles(
            json.dumps([{"body": "x"}] * 11).encode(), "application/json", {}, max_articles=10
        )
    assert caught.value.status == 413


def test_text_plain_takes_metadata_from_the_query() -> None:
    parsed = parse_articles(
        b"Story", "text/plain", {"source": "Trend", "url": "https://t.az/1"}, 10
    )
    assert parsed.articles[0].source == "Trend"
    assert parsed.articles[0].url == "https://t.az/1"
