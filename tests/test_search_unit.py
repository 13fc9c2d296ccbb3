"""Unit tests of the search query builder (no services needed)."""

from __future__ import annotations

import pytest

from web.search import SearchRequest, build_search_body, to_simple_query_syntax


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("Saidzhanov OR harbour", "Saidzhanov | harbour"),
        ("media AND forum", "media + forum"),
        ("media NOT forum", "media -forum"),
        ('"war OR peace" OR treaty', '"war OR peace" | treaty'),
        ("or and not", "or and not"),
        ("ORegon ANDes NOTE", "ORegon ANDes NOTE"),
        ("trailing NOT", "trailing NOT"),
        ('"unclosed OR phrase', '"unclosed OR phrase'),
    ],
)
def test_operators_people_type(typed: str, sent: str) -> None:
    assert to_simple_query_syntax(typed) == sent


def test_empty_query_lists_newest_first() -> None:
    body = build_search_body(SearchRequest(query="  ", page=3, size=10))
    assert body["query"] == {"match_all": {}}
    assert body["from"] == 20
    assert next(iter(body["sort"][0])) == "published_at"


def test_highlighting_escapes_html() -> None:
    body = build_search_body(SearchRequest(query="x"))
    assert body["highlight"]["encoder"] == "html"
    assert body["query"]["simple_query_string"]["default_operator"] == "and"
