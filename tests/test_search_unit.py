"""Unit tests of the search query builder (no services needed)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from web.search import (
    SearchRequest,
    _facet_filters,
    _shape_facets,
    build_bounds_body,
    build_facets_body,
    build_hits_body,
    reciprocal_rank_fusion,
    to_simple_query_syntax,
)


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
    body = build_hits_body(SearchRequest(query="  ", page=3, size=10))
    assert body["query"]["bool"]["must"] == [{"match_all": {}}]
    assert body["from"] == 20
    assert next(iter(body["sort"][0])) == "published_at"


def test_highlighting_escapes_html() -> None:
    body = build_hits_body(SearchRequest(query="x"))
    assert body["highlight"]["encoder"] == "html"
    text_query = body["query"]["bool"]["must"][0]["function_score"]["query"]
    assert text_query["simple_query_string"]["default_operator"] == "and"


def test_relevance_has_a_recency_boost_and_date_sorts_do_not() -> None:
    relevance = build_hits_body(SearchRequest(query="x"))["query"]["bool"]["must"][0]
    assert relevance["function_score"]["functions"][1]["gauss"]["published_at"]["scale"] == "30d"
    newest = build_hits_body(SearchRequest(query="x", sort="newest"))
    assert "simple_query_string" in newest["query"]["bool"]["must"][0]
    assert newest["sort"][0] == {"published_at": {"order": "desc", "missing": "_last"}}


def test_each_facet_counts_with_every_selection_but_its_own() -> None:
    request = SearchRequest(filters={"source": ("A", "B"), "people": ("Ann",)})
    body = build_facets_body(request)
    assert build_hits_body(request)["post_filter"]["bool"]["filter"] == [
        {"terms": {"source": ["A", "B"]}},
        {"terms": {"people": ["Ann"]}},
    ]
    assert body["aggs"]["source"]["filter"]["bool"]["filter"] == [{"terms": {"people": ["Ann"]}}]
    assert body["aggs"]["people"]["filter"]["bool"]["filter"] == [{"terms": {"source": ["A", "B"]}}]
    assert body["aggs"]["language"]["filter"]["bool"]["filter"] == _facet_filters(request)
    assert body["aggs"]["timeline"]["filter"] == build_hits_body(request)["post_filter"]


def test_counts_match_what_the_hits_match_without_scoring() -> None:
    request = SearchRequest(query="harbour OR quay", date_from=date(2025, 9, 1))
    hits = build_hits_body(request)["query"]["bool"]
    scored = hits["must"][0]["function_score"]  # the recency boost ("now"): hits only
    counting = build_facets_body(request)["query"]["bool"]
    assert counting == {"filter": [scored["query"], *hits["filter"]]}
    assert "now" not in json.dumps(counting)
    bounds = build_bounds_body(SearchRequest(query="harbour", filters={"source": ("A",)}))
    assert bounds["query"]["bool"]["filter"][-1] == {"terms": {"source": ["A"]}}
    assert build_facets_body(request)["size"] == 0


def test_dates_narrow_everything() -> None:
    body = build_hits_body(SearchRequest(date_from=date(2025, 9, 1), date_to=date(2025, 9, 30)))
    assert body["query"]["bool"]["filter"] == [
        {
            "range": {
                "published_at": {"format": "strict_date", "gte": "2025-09-01", "lte": "2025-09-30"}
            }
        }
    ]


def test_reciprocal_rank_fusion() -> None:
    keyword = ["a", "b", "c"]
    semantic = ["c", "a", "d"]
    # a: 1/61 + 1/62, c: 1/63 + 1/61, b: 1/62, d: 1/63
    assert reciprocal_rank_fusion([keyword, semantic]) == ["a", "c", "b", "d"]
    assert reciprocal_rank_fusion([semantic]) == semantic
    assert reciprocal_rank_fusion([]) == []


def test_only_a_text_query_ranked_by_relevance_is_ranked_by_meaning() -> None:
    assert SearchRequest(query="x").ranked_by_meaning
    assert not SearchRequest(query="").ranked_by_meaning
    assert not SearchRequest(query="x", mode="keyword").ranked_by_meaning
    assert not SearchRequest(query="x", sort="newest").ranked_by_meaning


def test_corrected_query_replaces_each_misspelt_word_in_place() -> None:
    from web.search import corrected_query

    suggest = {
        "spelling": [
            {"text": "immigraton", "offset": 0, "length": 10, "options": [{"text": "immigration"}]},
            {"text": "cort", "offset": 11, "length": 4, "options": [{"text": "court"}]},
            {"text": "trump", "offset": 17, "length": 5, "options": []},
        ]
    }
    assert corrected_query('immigraton cort "trump"', suggest) == 'immigration court "trump"'
    assert corrected_query("fine", {"spelling": []}) is None
    assert corrected_query("fine", None) is None


def test_a_selected_value_out_of_the_top_keeps_its_count() -> None:
    # In a busy index the selected source may not be among the top FACET_SIZE values: it is
    # counted apart, so its count agrees with the total the selection filters to.
    request = SearchRequest(filters={"source": ("Alpha Wire", "Gone Paper")})
    body = build_facets_body(request)
    selected = body["aggs"]["source"]["aggs"]["selected"]["terms"]
    assert selected["include"] == ["Alpha Wire", "Gone Paper"]
    aggregations = {
        "source": {
            "values": {"buckets": [{"key": f"Paper {n}", "doc_count": 9} for n in range(10)]},
            "selected": {"buckets": [{"key": "Alpha Wire", "doc_count": 4}]},
        }
    }
    facets = _shape_facets(request, aggregations)
    chosen = [(v["value"], v["count"]) for v in facets["source"] if v["selected"]]
    assert chosen == [("Alpha Wire", 4), ("Gone Paper", 0)]
