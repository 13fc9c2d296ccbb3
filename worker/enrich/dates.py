"""Dates written in articles, resolved against a reference date (dateparser)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dateparser

# A dateline is written on (or just before) the day it is filed, so its date cannot lie more
# than a day or so after the moment the article reached us.
_FUTURE_TOLERANCE = timedelta(days=2)


def resolve_day(text: str, *, reference: datetime, language: str | None = None) -> date | None:
    """The calendar day that ``text`` (e.g. "September 30", "Sept. 30", "30 septembre") names,
    with a missing year taken from ``reference``: the latest such day not after it."""
    settings = {
        "RELATIVE_BASE": reference.astimezone(UTC).replace(tzinfo=None),
        "PREFER_DATES_FROM": "past",
        "PREFER_DAY_OF_MONTH": "first",
        "STRICT_PARSING": False,
        "REQUIRE_PARTS": ["day", "month"],
    }
    languages = [language] if language and language != "und" else None
    try:
        parsed = dateparser.parse(text, languages=languages, settings=settings)
    except (ValueError, KeyError, OverflowError):
        return None
    if parsed is None and languages:
        parsed = dateparser.parse(text, settings=settings)
    if parsed is None:
        return None
    day = parsed.date()
    if datetime.combine(day, datetime.min.time(), UTC) > reference + _FUTURE_TOLERANCE:
        return None
    return day
