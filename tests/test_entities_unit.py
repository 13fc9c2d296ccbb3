"""Unit tests of the entity pages' request builders, name merging and shaping (no services)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest

from web.entities import (
    MAX_QUOTES,
    build_profile_body,
    build_variants_body,
    indexed_names,
    invalid_name,
    longer_names,
    merge_variants,
    name_suffixes,
    period_start,
    regex_literal,
    rollup_timeline,
    shape_locations,
    shape_profile,
    shape_quotes,
)


def test_name_suffixes_are_whole_words_longest_first() -> None:
    assert name_suffixes("Martin Luther King") == ["Luther King", "King"]
    assert name_suffixes("Donald Trump") == ["Trump"]
    assert name_suffixes("Madonna") == []
    # Longer than any indexed name: not worth an aggregation per word.
    assert name_suffixes(" ".join(["Word"] * 9)) == []
    assert build_variants_body(" ".join(["Word"] * 9))["aggs"].keys() == {"longer"}


# --- merging ----------------------------------------------------------------------------------


def test_a_unique_surname_is_merged() -> None:
    indexed = {"Donald Trump": 10, "Trump": 4, "Melania Knauss": 1}
    assert merge_variants("Donald Trump", indexed) == [{"name": "Trump", "count": 4}]


def test_a_shared_surname_is_not_merged() -> None:
    indexed = {"Donald Trump": 10, "Ivanka Trump": 2, "Trump": 4}
    assert merge_variants("Donald Trump", indexed) == []
    assert merge_variants("Ivanka Trump", indexed) == []


def test_a_middle_initial_counts_as_another_person() -> None:
    # Strict on purpose: "Trump" could be either as far as the index can tell.
    indexed = {"Donald Trump": 10, "Donald J. Trump": 2, "Trump": 4}
    assert merge_variants("Donald Trump", indexed) == []


def test_nothing_merges_into_a_name_no_article_has() -> None:
    assert merge_variants("Barack Trump", {"Trump": 4}) == []


def test_a_surname_no_article_has_alone_is_not_listed() -> None:
    assert merge_variants("Donald Trump", {"Donald Trump": 10}) == []


def test_longer_suffixes_of_the_same_name_are_not_conflicts() -> None:
    indexed = {"Martin Luther King": 5, "Luther King": 2, "King": 3}
    assert merge_variants("Martin Luther King", indexed) == [
        {"name": "Luther King", "count": 2},
        {"name": "King", "count": 3},
    ]
    # Stephen King makes the bare "King" ambiguous, but not "Luther King".
    indexed["Stephen King"] = 9
    assert merge_variants("Martin Luther King", indexed) == [{"name": "Luther King", "count": 2}]


def test_a_name_ending_in_the_same_letters_is_no_conflict() -> None:
    # "Strump" does not end with the word "Trump".
    indexed = {"Donald Trump": 10, "Trump": 4, "Anna Strump": 3}
    assert merge_variants("Donald Trump", indexed) == [{"name": "Trump", "count": 4}]


def test_longer_names_of_a_bare_surname() -> None:
    indexed = {"Trump": 4, "Donald Trump": 10, "Ivanka Trump": 2, "Strump": 1}
    assert longer_names("Trump", indexed) == [
        {"name": "Donald Trump", "count": 10},
        {"name": "Ivanka Trump", "count": 2},
    ]
    assert longer_names("Donald Trump", indexed) == []


def _lucene_regex_to_python(pattern: str) -> re.Pattern[str]:
    """Enough of Lucene's syntax for the patterns built here: \\x is a literal x."""
    return re.compile(re.sub(r"\\(.)", lambda m: re.escape(m.group(1)), pattern))


@pytest.mark.parametrize("name", ["Mark Zorbl.*", "A (B) [C]", 'x"y', "a~b@c#d&e<1-9>", "O\\Brien"])
def test_regex_literal_matches_only_itself(name: str) -> None:
    escaped = regex_literal(name)
    # Letters, digits and spaces as they are; anything else after a backslash.
    assert re.fullmatch(r"(?:[^\W_]| |\\.)*", escaped, re.DOTALL)
    assert _lucene_regex_to_python(escaped).fullmatch(name)
    assert not _lucene_regex_to_python(escaped).fullmatch(name + "x")


def test_variants_body_sizes_leave_room_for_a_conflict() -> None:
    body = build_variants_body("Martin Luther King")
    aggs = body["aggs"]
    assert set(aggs) == {"suffix0", "suffix1", "longer"}
    assert aggs["suffix0"]["terms"]["include"] == "(.+ )?Luther King"
    assert aggs["suffix1"]["terms"]["include"] == "(.+ )?King"
    # The name, its two suffixes ... and one more.
    assert aggs["suffix1"]["terms"]["size"] == 4
    assert aggs["longer"]["terms"]["include"] == ".+ Martin Luther King"
    assert body["query"] == {"match_phrase": {"people.text": "King"}}


def test_indexed_names_unions_the_buckets() -> None:
    aggregations = {
        "suffix0": {"buckets": [{"key": "Donald Trump", "doc_count": 3}]},
        "longer": {"buckets": [{"key": "Trump", "doc_count": 1}]},
    }
    assert indexed_names(aggregations) == {"Donald Trump": 3, "Trump": 1}


# --- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "bad"),
    [("Jane Doe", False), ("AC/DC", False), ('"', False), (" ", True), ("a\x00b", True)],
)
def test_invalid_names(name: str, bad: bool) -> None:
    assert (invalid_name(name) is not None) is bad


def test_too_long_a_name_is_invalid() -> None:
    assert invalid_name("x" * 300) is None
    assert invalid_name("x" * 301) is not None


# --- the profile request ----------------------------------------------------------------------


def test_profile_body_filters_on_every_name_and_excludes_them_from_companions() -> None:
    body = build_profile_body("person", ["Donald Trump", "Trump"], size=5)
    assert body["query"]["bool"]["filter"] == [{"terms": {"people": ["Donald Trump", "Trump"]}}]
    assert body["aggs"]["with_people"]["terms"]["exclude"] == ["Donald Trump", "Trump"]
    assert "exclude" not in body["aggs"]["with_places"]["terms"]
    assert body["size"] == 5
    speaker = {"terms": {"quotes.speaker": ["Donald Trump", "Trump"]}}
    assert body["aggs"]["quote_count"]["aggs"]["by_speaker"]["filter"] == speaker
    assert body["aggs"]["quoted"]["filter"]["nested"]["query"] == speaker


def test_place_body_is_by_geonameid_and_has_no_quotes() -> None:
    body = build_profile_body("place", ["6183235"])
    assert body["query"]["bool"]["filter"] == [{"terms": {"places.geonameid": ["6183235"]}}]
    companions = body["aggs"]["with_places"]
    assert companions["terms"] == {"field": "places.geonameid", "size": 10, "exclude": ["6183235"]}
    assert "top_hits" in companions["aggs"]["label"]  # each id with its name
    assert "quoted" not in body["aggs"]
    assert "places" in body["_source"]


def test_place_body_by_name_matches_the_name_or_the_spelling_written() -> None:
    """An older link by name ("Kiev", "Winnipeg") still finds the place's stories."""
    body = build_profile_body("place", ["Kiev"])
    assert body["query"]["bool"]["filter"] == [
        {
            "bool": {
                "should": [
                    {"terms": {"places.name": ["Kiev"]}},
                    {"terms": {"places.mentioned_as": ["Kiev"]}},
                ],
                "minimum_should_match": 1,
            }
        }
    ]


# --- the timeline -----------------------------------------------------------------------------


def _days(*pairs: tuple[str, int]) -> list[dict[str, Any]]:
    return [{"key_as_string": day, "doc_count": count} for day, count in pairs]


def test_a_short_span_keeps_days_and_fills_the_gaps() -> None:
    timeline = rollup_timeline(_days(("2025-01-10", 2), ("2025-01-13", 1)))
    assert timeline == {
        "interval": "day",
        "buckets": [
            {"date": "2025-01-10", "count": 2},
            {"date": "2025-01-11", "count": 0},
            {"date": "2025-01-12", "count": 0},
            {"date": "2025-01-13", "count": 1},
        ],
    }


def test_weeks_start_on_monday() -> None:
    timeline = rollup_timeline(_days(("2025-01-10", 1), ("2025-02-12", 1), ("2025-03-20", 1)))
    assert timeline["interval"] == "week"
    dates = [bucket["date"] for bucket in timeline["buckets"]]
    assert dates[0] == "2025-01-06"
    assert dates[-1] == "2025-03-17"
    assert len(dates) == 11
    assert all(date.fromisoformat(d).weekday() == 0 for d in dates)
    assert sum(bucket["count"] for bucket in timeline["buckets"]) == 3


def test_months_quarters_and_years() -> None:
    months = rollup_timeline(_days(("2024-01-31", 1), ("2024-03-01", 1), ("2025-06-15", 2)))
    assert months["interval"] == "month"
    assert months["buckets"][0] == {"date": "2024-01-01", "count": 1}
    assert months["buckets"][-1] == {"date": "2025-06-01", "count": 2}
    assert len(months["buckets"]) == 18
    quarters = rollup_timeline(_days(("2015-05-05", 1), ("2024-11-30", 1)))
    assert quarters["interval"] == "quarter"
    assert quarters["buckets"][0]["date"] == "2015-04-01"
    assert quarters["buckets"][-1]["date"] == "2024-10-01"
    years = rollup_timeline(_days(("1990-05-05", 1), ("2025-11-30", 1)))
    assert years["interval"] == "year"
    assert len(years["buckets"]) == 36


def test_no_days_no_buckets() -> None:
    assert rollup_timeline([]) == {"interval": "day", "buckets": []}


@pytest.mark.parametrize(
    ("interval", "start"),
    [
        ("day", "2025-08-14"),
        ("week", "2025-08-11"),
        ("month", "2025-08-01"),
        ("quarter", "2025-07-01"),
        ("year", "2025-01-01"),
    ],
)
def test_period_start(interval: str, start: str) -> None:
    assert period_start(date(2025, 8, 14), interval).isoformat() == start


# --- shaping ----------------------------------------------------------------------------------


def _quote(speaker: str | None, text: str, start: int) -> dict[str, Any]:
    return {"speaker": speaker, "text": text, "start": start, "verb": "said"}


def test_quotes_keep_the_speakers_in_text_order_with_their_article() -> None:
    hits = [
        {
            "_id": "b",
            "_source": {
                "title": "Newer",
                "published_at": "2025-02-01T00:00:00Z",
                "quotes": [
                    _quote("Jane Doe", "second", 50),
                    _quote("John Roe", "not hers", 20),
                    _quote("Doe", "first", 10),
                ],
            },
        },
        {"_id": "a", "_source": {"title": "Older", "quotes": [_quote("Jane Doe", "old", 5)]}},
    ]
    quotes = shape_quotes(hits, ["Jane Doe", "Doe"])
    assert [(q["text"], q["article"]["id"]) for q in quotes] == [
        ("first", "b"),
        ("second", "b"),
        ("old", "a"),
    ]
    assert quotes[0]["article"]["title"] == "Newer"


def test_quotes_are_capped() -> None:
    many = [_quote("Jane Doe", str(n), n) for n in range(MAX_QUOTES + 5)]
    assert len(shape_quotes([{"_id": "a", "_source": {"quotes": many}}], ["Jane Doe"])) == (
        MAX_QUOTES
    )


def test_locations_separate_two_places_of_one_name() -> None:
    illinois = {"lat": 39.8, "lon": -89.6}
    missouri = {"lat": 37.2, "lon": -93.3}

    def hit(location: dict[str, float], geonameid: str, written: str) -> dict[str, Any]:
        place = {
            "name": "Springfield",
            "geonameid": geonameid,
            "location": location,
            "country": "United States",
            "mentioned_as": [written],
        }
        other = {"name": "Chicago", "geonameid": "1"}
        return {"_id": geonameid, "_source": {"places": [other, place]}}

    hits = [hit(illinois, "4250542", "Springfield"), hit(missouri, "4409896", "Springfield")]
    hits.append(hit(illinois, "4250542", "Springfield, Ill."))
    locations = shape_locations(hits, "Springfield")
    assert [(loc["geonameid"], loc["stories"]) for loc in locations] == [
        ("4250542", 2),
        ("4409896", 1),
    ]
    assert locations[0]["mentioned_as"] == ["Springfield", "Springfield, Ill."]


def test_shape_profile() -> None:
    response = {
        "hits": {
            "total": {"value": 3, "relation": "eq"},
            "hits": [{"_id": "x", "_source": {"title": "T", "published_at": "2025-02-12"}}],
        },
        "aggregations": {
            "days": {"buckets": _days(("2025-01-10", 2), ("2025-01-11", 1))},
            "with_people": {"buckets": [{"key": "Peter Vrask", "doc_count": 1}]},
            "with_organisations": {"buckets": []},
            "with_places": {"buckets": [{"key": "Winnipeg", "doc_count": 2}]},
            "quote_count": {
                "by_speaker": {
                    "doc_count": 4,
                    "articles": {"doc_count": 2, "stories": {"value": 1}},
                }
            },
            "quoted": {"newest": {"hits": {"hits": []}}},
        },
    }
    merged = [{"name": "Zorblatt", "count": 1}]
    profile = shape_profile("person", "Mark Zorblatt", response, merged=merged)
    assert profile["total"] == 3
    assert profile["search"] == {"people": ["Mark Zorblatt", "Zorblatt"]}
    assert profile["also_written_as"] == merged
    assert (profile["first_published"], profile["last_published"]) == ("2025-01-10", "2025-01-11")
    assert profile["timeline"]["buckets"] == [
        {"date": "2025-01-10", "count": 2},
        {"date": "2025-01-11", "count": 1},
    ]
    assert profile["cooccurring"]["places"] == [{"name": "Winnipeg", "count": 2}]
    assert profile["quotes"] == {"total": 4, "articles": 2, "stories": 1, "items": []}
    assert profile["stories"][0]["id"] == "x"
    assert "locations" not in profile
    place = shape_profile("place", "Winnipeg", response)
    assert "quotes" not in place
    assert place["locations"] == []
    assert place["search"] == {"places": ["Winnipeg"]}
