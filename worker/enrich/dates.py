"""Dates written in articles, resolved against a reference date (dateparser)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import dateparser
from dateparser.date import DateDataParser

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
    # The article's language first; then any language (the language may be one dateparser does
    # not know, or misdetected on a short text).
    attempts = ([[language]] if language and language != "und" else []) + [None]
    parsed = None
    for languages in attempts:
        try:
            parsed = dateparser.parse(text, languages=languages, settings=settings)
        except (ValueError, KeyError, OverflowError):
            continue
        if parsed is not None:
            break
    if parsed is None:
        return None
    day = parsed.date()
    if datetime.combine(day, datetime.min.time(), UTC) > reference + _FUTURE_TOLERANCE:
        return None
    return day


# A mention names a point in time only with a month, a year, or a word that anchors it to the
# publication date; "two years" or "24-hour" are durations, and "We" is not Wednesday.
_ANCHORED = re.compile(
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?(?:\s|$|,)"
    r"|\b(?:1[89]\d\d|20\d\d)\b"
    r"|\b(?:today|tonight|yesterday|tomorrow|ago|last|next|this|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b",
    re.IGNORECASE,
)
_DECADE = re.compile(r"\b\d{4}s\b|\b\d0s\b")
_LEADING_NOISE = re.compile(r"^(?:the\s+)?(?:year\s+of\s+|year\s+)?", re.IGNORECASE)
MAX_MENTIONS = 30


@lru_cache(maxsize=64)
def _date_parser(language: str, reference_day: date) -> DateDataParser:
    """One parser per language and day: building one is cheap, but a warm one parses a mention
    in well under a millisecond against several for a cold one."""
    base = datetime.combine(reference_day, datetime.min.time())
    return DateDataParser(
        languages=[language], settings={"PREFER_DATES_FROM": "past", "RELATIVE_BASE": base}
    )


def resolve_mentions(
    mentions: Sequence[str], *, reference: datetime, language: str
) -> list[dict[str, str]]:
    """Each distinct point in time the text names, as ``{"text", "date", "resolution"}``
    (resolution: day, week, month or year; a month or year is dated by its first day),
    resolved against the publication date."""
    parser = _date_parser(language, reference.astimezone(UTC).date())
    found: dict[tuple[str, str], dict[str, str]] = {}
    for mention in mentions:
        text = " ".join(mention.split())
        if len(text) > 60 or not _ANCHORED.search(text) or _DECADE.search(text):
            continue
        try:
            data = parser.get_date_data(_LEADING_NOISE.sub("", text))
        except (ValueError, KeyError, OverflowError):
            continue
        if data.date_obj is None:
            continue
        resolution = data.period if data.period in ("week", "month", "year") else "day"
        value = data.date_obj.date()
        if resolution == "year":
            value = value.replace(month=1, day=1)
        elif resolution == "month":
            value = value.replace(day=1)
        key = (value.isoformat(), resolution)
        found.setdefault(key, {"text": text, "date": value.isoformat(), "resolution": resolution})
        if len(found) == MAX_MENTIONS:
            break
    return list(found.values())
