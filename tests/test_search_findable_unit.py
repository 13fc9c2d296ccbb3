"""Pure parts of issue 14 items 6 and 7: which words relaxing may leave out, the corrected
query's case, date bounds and the parameters that set them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from werkzeug.datastructures import MultiDict

from shared.http import ApiError
from web.params import parse_search_request
from web.search import (
    MOST_WORDS,
    UNDATED,
    SearchRequest,
    _date_filter,
    _matching_query,
    corrected_query,
    relaxed_words_query,
    split_plain_words,
)


@pytest.mark.parametrize(
    ("query", "plain", "other"),
    [
        (
            "media cooperation between countries",
            ["media", "cooperation", "between", "countries"],
            [],
        ),
        ('"crude oil" prices rise sharply', ["prices", "rise", "sharply"], ['"crude oil"']),
        ("police -Israel NOT Sharon +Gaza", ["police"], ["-Israel", "-Sharon", "+Gaza"]),
        ("oil* prices AND gas", ["prices", "gas"], ["oil*", "+"]),
        ('-"state media" news agencies report', ["news", "agencies", "report"], ['-"state media"']),
    ],
)
def test_plain_words_and_the_rest(query: str, plain: list[str], other: list[str]) -> None:
    split = split_plain_words(query)
    assert split is not None
    # A lone "+" (from AND) joins nothing and is dropped.
    assert split == (plain, [term for term in other if term.strip("+-")])


@pytest.mark.parametrize("query", ["oil | gas prices rise", "(oil gas) prices rise", r"a\-b c d e"])
def test_structured_queries_are_not_relaxed(query: str) -> None:
    assert split_plain_words(query) is None
    assert relaxed_words_query(query) is None


def test_the_relaxed_query_keeps_every_operator_required() -> None:
    relaxed = relaxed_words_query('"crude oil" prices rise sharply -Brent')
    assert relaxed is not None
    most, required = relaxed["bool"]["must"]
    assert most["simple_query_string"]["query"] == "prices rise sharply"
    assert most["simple_query_string"]["default_operator"] == "or"
    assert most["simple_query_string"]["minimum_should_match"] == MOST_WORDS
    assert required["simple_query_string"]["query"] == '"crude oil" -Brent'
    assert required["simple_query_string"]["default_operator"] == "and"
    # Two plain words: "most" of two is both; nothing to relax.
    assert relaxed_words_query('"crude oil" prices rise') is None


def test_words_most_switches_the_matching_query() -> None:
    strict = _matching_query(SearchRequest(query="a b c"))
    assert strict["simple_query_string"]["default_operator"] == "and"
    relaxed = _matching_query(SearchRequest(query="a b c", words="most"))
    assert relaxed == relaxed_words_query("a b c")
    # A query that cannot be relaxed stays strict.
    assert _matching_query(SearchRequest(query="a | b c", words="most")) == _matching_query(
        SearchRequest(query="a | b c")
    )


def _suggest(word: str, offset: int, correction: str) -> dict[str, Any]:
    return {
        "spelling": [
            {
                "text": word.lower(),
                "offset": offset,
                "length": len(word),
                "options": [{"text": correction}],
            }
        ]
    }


def test_the_correction_keeps_the_case_typed() -> None:
    assert corrected_query("Oli Prices", _suggest("Oli", 0, "oil")) == "Oil Prices"
    assert corrected_query("OLI prices", _suggest("OLI", 0, "oil")) == "OIL prices"
    assert corrected_query("Brent oli", _suggest("oli", 6, "oil")) == "Brent oil"


def test_date_bounds() -> None:
    days = SearchRequest(date_from=date(2025, 9, 1), date_to=date(2025, 9, 30))
    assert _date_filter(days) == [
        {
            "range": {
                "published_at": {"format": "strict_date", "gte": "2025-09-01", "lte": "2025-09-30"}
            }
        }
    ]
    moment = datetime(2025, 9, 30, 14, 5, tzinfo=UTC) + timedelta(seconds=0)
    timed = SearchRequest(date_from=moment, date_to=date(2025, 9, 30))
    assert _date_filter(timed) == [
        {
            "range": {
                "published_at": {
                    "format": "strict_date_optional_time",
                    "gte": "2025-09-30T14:05:00Z",
                    "lte": "2025-09-30",
                }
            }
        }
    ]
    assert _date_filter(SearchRequest(undated=True)) == [UNDATED]
    # Undated within a range: both, so nothing.
    assert _date_filter(replace(days, undated=True)) == [*_date_filter(days), UNDATED]


def _parse(**args: str) -> SearchRequest:
    return parse_search_request(MultiDict(args), 10)


def test_parameters() -> None:
    before = datetime.now(UTC)
    week = _parse(when="week")
    assert week.when == "week"
    assert isinstance(week.date_from, datetime)
    assert timedelta(days=7, minutes=-1) <= before - week.date_from <= timedelta(days=7, minutes=1)
    # With "from", the later bound.
    assert _parse(when="year", **{"from": "2999-01-01"}).date_from == datetime(
        2999, 1, 1, tzinfo=UTC
    )
    # A time without a zone is UTC; one with an offset keeps it.
    assert _parse(**{"from": "2025-09-30T14:00"}).date_from == datetime(2025, 9, 30, 14, tzinfo=UTC)
    offset = _parse(to="2025-09-30T14:00+02:00").date_to
    assert offset == datetime(2025, 9, 30, 12, tzinfo=UTC)
    # The same day as "from" (a time) and "to" (a day) is a valid range.
    _parse(**{"from": "2025-09-30T14:00", "to": "2025-09-30"})
    assert _parse(exact="1").exact
    assert not _parse().exact
    assert _parse(undated="1").undated
    assert _parse(undated="1", when="week").undated
    assert _parse(when="").when is None
    for bad in (
        {"when": "fortnight"},
        {"undated": "TRUE"},
        {"when": " week"},
        {"undated": "maybe"},
        {"from": "2025-10-01T00:00", "to": "2025-09-30"},
        {"from": "30/09/2025 14:00"},
    ):
        with pytest.raises(ApiError) as refused:
            _parse(**bad)
        assert refused.value.status == 400
