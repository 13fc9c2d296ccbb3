"""Dates mentioned in a story, resolved against the article's own date (worker.enrich.dates and
the find_dates step). Pure functions; the step gets a real spaCy Doc with its DATE entities set
by hand, so no model is loaded."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
import spacy
from spacy.tokens import Span

from worker.enrich.dates import resolve_mentions, unresolved_mentions
from worker.enrich.steps.find_dates import find_dates

TUESDAY = date(2026, 12, 1)  # Tuesday 1 December 2026


def _resolved(text: str, reference: date | datetime | None = TUESDAY) -> tuple[str, str] | None:
    found = resolve_mentions([text], reference=reference, language="en")
    return (found[0]["date"], found[0]["resolution"]) if found else None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A weekday alone: that day within the six days before, or the article's own day.
        ("Tuesday", ("2026-12-01", "day")),
        ("on Tuesday", ("2026-12-01", "day")),
        ("Tuesday night", ("2026-12-01", "day")),
        ("Monday", ("2026-11-30", "day")),
        ("Wednesday", ("2026-11-25", "day")),
        ("last Tuesday", ("2026-11-24", "day")),
        ("next Tuesday", ("2026-12-08", "day")),
        ("next Monday", ("2026-12-07", "day")),
        ("this Friday", ("2026-12-04", "day")),
        ("today", ("2026-12-01", "day")),
        ("yesterday", ("2026-11-30", "day")),
        ("last night", ("2026-11-30", "day")),
        ("tomorrow", ("2026-12-02", "day")),
        ("two days ago", ("2026-11-29", "day")),
        ("last week", ("2026-11-23", "week")),
        ("this week", ("2026-11-30", "week")),
        ("next week", ("2026-12-07", "week")),
        ("this month", ("2026-12-01", "month")),
        ("earlier this month", ("2026-12-01", "month")),
        ("last month", ("2026-11-01", "month")),
        ("last year", ("2025-01-01", "year")),
        ("late last year", ("2025-01-01", "year")),
        ("next year", ("2027-01-01", "year")),
        ("last March", ("2026-03-01", "month")),
        ("next March", ("2027-03-01", "month")),
        # A month and day without a year: the occurrence nearest the article's day.
        ("September 30", ("2026-09-30", "day")),
        ("December 15", ("2026-12-15", "day")),
        ("January 10", ("2027-01-10", "day")),
        ("Tuesday, Sept. 29", ("2026-09-29", "day")),
        # Dates with their own year.
        ("Sept. 30, 2025", ("2025-09-30", "day")),
        ("March 2020", ("2020-03-01", "month")),
        ("the year 2021", ("2021-01-01", "year")),
    ],
)
def test_mentions_resolve_against_the_article_day(
    text: str, expected: tuple[str, str] | None
) -> None:
    assert _resolved(text) == expected


@pytest.mark.parametrize(
    "text",
    ["two years", "24-hour", "the 1990s", "the next day", "the following week", "that day"],
)
def test_durations_and_narrative_moments_are_not_dated(text: str) -> None:
    assert _resolved(text) is None


def test_the_article_day_is_its_own_local_day() -> None:
    # 23:30 at UTC-5 on Tuesday 1 December is 04:30 UTC on Wednesday: still Tuesday's story.
    late = datetime(2026, 12, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert _resolved("on Tuesday", late) == ("2026-12-01", "day")
    assert _resolved("yesterday", datetime(2026, 12, 1, 0, 5, tzinfo=UTC)) == (
        "2026-11-30",
        "day",
    )


def test_an_undated_article_resolves_only_dates_with_their_year() -> None:
    mentions = ["on Tuesday", "last week", "September 30", "September 30, 2025", "March 2020"]
    found = resolve_mentions(mentions, reference=None, language="en")
    assert [item["text"] for item in found] == ["September 30, 2025", "March 2020"]
    assert unresolved_mentions(mentions) == ["on Tuesday", "last week", "September 30"]


TEXT = "The minister resigned on Tuesday. The vote of September 30, 2025 stands, she said."


def _article(**fields: Any) -> dict[str, Any]:
    doc = spacy.blank("en")(TEXT)
    doc.ents = [Span(doc, 4, 5, label="DATE"), Span(doc, 9, 13, label="DATE")]
    return {
        "body": TEXT,
        "language": "en",
        "received_at": "2026-12-09T10:00:00+00:00",  # a week later: never the reference
        "_parsed": doc,
    } | fields


def test_find_dates_uses_the_publication_date_never_the_day_received() -> None:
    found = find_dates(_article(published_at="2026-12-01"))
    assert found == {
        "dates_mentioned": [
            {"text": "Tuesday", "date": "2026-12-01", "resolution": "day"},
            {"text": "September 30, 2025", "date": "2025-09-30", "resolution": "day"},
        ]
    }


def test_find_dates_in_an_undated_article_says_why_relative_dates_are_missing() -> None:
    found = find_dates(_article(published_at=None))
    assert found["dates_mentioned"] == [
        {"text": "September 30, 2025", "date": "2025-09-30", "resolution": "day"}
    ]
    assert found["_skip"] == (
        'no publication date: 1 relative date mention(s) not resolved ("Tuesday")'
    )
