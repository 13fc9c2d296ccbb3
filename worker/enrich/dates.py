"""Dates written in articles, resolved against the article's own date.

Absolute dates ("September 30, 2025", "March 2020", "30 septembre 2025") are read by
dateparser. Dates relative to the article ("on Tuesday", "yesterday", "last week", "this
month", "two days ago", "September 30" with no year) are resolved by the rules below, written
by hand because dateparser resolves a weekday to the previous week even on that very day
("Tuesday" in a story of Tuesday 1 December is 24 November) and reads narrative phrases such as
"the next day" as if they were relative to the article:

- a weekday alone names that day within the six days before the article or the article's own
  day ("on Tuesday" in a Tuesday story is that day); "last Tuesday" the latest one strictly
  before it; "next Tuesday" the first one strictly after it; "this Tuesday" the one in the
  article's week (Monday to Sunday);
- "today", "tonight", "this morning" the article's day; "yesterday", "last night" the day
  before; "tomorrow" the day after;
- "this/last/next week|month|year" that period (a week from its Monday, a month or year from
  its first day), "earlier this month" or "late last year" the same period;
- "N days|weeks|months|years ago" counted back from the article's day;
- a month and day without a year the occurrence nearest the article's day (a story of
  1 December's "December 15" is two weeks ahead, not a year back); a month without a year
  the latest one not after the article's month.

An article without a publication date has no day to resolve these against: they are left out
(the step says how many), and only dates that carry their own year are listed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache

import dateparser
from dateparser.date import DateDataParser

# A dateline is written on (or just before) the day it is filed: in a time zone ahead of UTC its
# day may be the day after the moment (UTC) the article reached us, never later.
_FUTURE_TOLERANCE = timedelta(days=1)
_YEAR = re.compile(r"(?<!\d)(?:1[89]|20)\d\d(?!\d)")
_LEADING_WEEKDAY = re.compile(
    r"^\s*(?:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?\.?,?\s+",
    re.IGNORECASE,
)
# How far back a dateline without a year may lie (a story received years after it was filed is
# an archive: "FEB 26" received on 1 December is 26 February of the same year).
_MAX_YEARS_BACK = 8
_CJK_MONTH_DAY = re.compile(
    r"\s*(?:(?P<year>\d{4})\s*年\s*)?(?P<month>\d{1,2})\s*月\s*(?P<day>\d{1,2})\s*日\s*$"
)


def resolve_day(
    text: str, *, reference: datetime | date, language: str | None = None
) -> date | None:
    """The calendar day that ``text`` (e.g. "September 30", "FEB 26", "Sept. 30", "30
    septembre", "May 5, 2004") names. A year written in it is used; a missing year is the latest
    such day not after the reference (allowing one day ahead, for time zones east of UTC)."""
    limit = _day_of(reference) + _FUTURE_TOLERANCE
    settings = {
        "RELATIVE_BASE": datetime.combine(limit, datetime.min.time()),
        "PREFER_DATES_FROM": "past",
        "PREFER_DAY_OF_MONTH": "first",
        "STRICT_PARSING": False,
        "REQUIRE_PARTS": ["day", "month"],
    }
    text = _LEADING_WEEKDAY.sub("", text)  # "Tuesday, March 3": the date says the day
    if cjk := _CJK_MONTH_DAY.match(text):
        # Chinese and Japanese datelines ("新华社北京11月17日电"): dateparser reads "6月18日" but
        # not a two-digit month ("11月17日"), so the digits are read here.
        year = int(cjk["year"]) if cjk["year"] else None
        return _latest_day(int(cjk["month"]), int(cjk["day"]), limit, year)
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
    if _YEAR.search(text):
        day = parsed.date()
        return day if day <= limit else None
    return _latest_day(parsed.month, parsed.day, limit)


def _latest_day(month: int, day: int, limit: date, year: int | None = None) -> date | None:
    """That month and day in ``year``, or without one the latest such day not after ``limit``
    (at most ``_MAX_YEARS_BACK`` years back); None when there is no such day."""
    years = [year] if year is not None else range(limit.year, limit.year - _MAX_YEARS_BACK, -1)
    for candidate_year in years:
        try:
            candidate = date(candidate_year, month, day)
        except ValueError:  # 29 February in a common year, or no such month or day
            continue
        if candidate <= limit:
            return candidate
    return None


def _day_of(reference: datetime | date) -> date:
    """The article's calendar day: a datetime's own date in its own offset (a story stamped
    23:30 at UTC-5 on 1 December was published on 1 December, though it was 2 December in UTC)."""
    return reference.date() if isinstance(reference, datetime) else reference


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

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
}
# Words before the period that do not move it: "on Tuesday", "earlier this month", "late last
# year", "by the end of next week".
_QUALIFIERS = re.compile(
    r"^(?:(?:on|by|since|until|till|from|before|after|as\s+of|of|in|during|earlier|later|early"
    r"|late|the|end|start|beginning|middle|mid)(?:\s+|-))*",
)
_PART_OF_DAY = r"(?:\s+(?:morning|afternoon|evening|night))?"
_WEEKDAY_NAME = r"(?P<weekday>mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?"
_RELATIVE_WEEKDAY = re.compile(
    rf"^(?:(?P<before>last|this|next|past|coming)\s+)?{_WEEKDAY_NAME}\.?(?:'s|’s)?{_PART_OF_DAY}"
    r"(?:\s+(?P<after>last|next|week))?$"
)
_RELATIVE_PERIOD = re.compile(
    r"^(?P<which>last|this|next|previous|past|coming|current)\s+(?P<unit>week|month|year)$"
)
_AGO = re.compile(
    r"^(?P<count>\d{1,3}|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
    r"\s+(?P<unit>day|week|month|year)s?\s+ago$"
)
_RELATIVE_MONTH = re.compile(
    r"^(?P<which>last|this|next)\s+(?P<month>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*$"
)
_DAYS = {
    "today": 0,
    "tonight": 0,
    "this morning": 0,
    "this afternoon": 0,
    "this evening": 0,
    "yesterday": -1,
    "yesterday morning": -1,
    "yesterday afternoon": -1,
    "yesterday evening": -1,
    "last night": -1,
    "day before yesterday": -2,
    "tomorrow": 1,
    "tomorrow morning": 1,
    "tomorrow afternoon": 1,
    "tomorrow evening": 1,
    "tomorrow night": 1,
    "day after tomorrow": 2,
}
# Month and day without a year: "September 30", "Sept. 30", "30 September", "the 30th of
# September".
_MONTH_DAY = re.compile(
    r"^(?:(?P<month>[a-z]{3,9})\.?\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?"
    r"|(?:the\s+)?(?P<day2>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<month2>[a-z]{3,9})\.?)$"
)
_MONTH_ONLY = re.compile(r"^(?P<month>[a-z]{3,9})\.?$")
# Phrases relative to the story's own narrative ("the next day", "that week"), not to the
# article's date: no rule here can date them.
_NARRATIVE = re.compile(
    r"\b(?:following|previous|preceding|that|same|prior)\s+(?:day|week|month|year|morning|night)\b"
    r"|\b(?:next|the)\s+day\b|\bday\s+before\b|\bweekend\b|\bseason\b"
)


def _month_number(word: str) -> int | None:
    word = word.casefold().rstrip(".")
    if len(word) < 3:
        return None
    for number, name in enumerate(_MONTHS, start=1):
        if name.startswith(word) or (word == "sept" and name == "september"):
            return number
    return None


def _weekday_number(word: str) -> int:
    return next(i for i, name in enumerate(_WEEKDAYS) if name.startswith(word[:3]))


def _shift_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _relative(text: str, day: date) -> tuple[date, str] | None:
    """``(date, resolution)`` of a mention relative to the article's ``day``, by the rules in
    the module docstring; None when ``text`` is not such a mention."""
    if text in _DAYS:
        return day + timedelta(days=_DAYS[text]), "day"
    if match := _RELATIVE_WEEKDAY.match(text):
        wanted = _weekday_number(match["weekday"])
        back = (day.weekday() - wanted) % 7
        which = match["before"] or match["after"]
        if which in ("last", "past"):
            return day - timedelta(days=back or 7), "day"
        if which in ("next", "coming"):
            return day + timedelta(days=(wanted - day.weekday()) % 7 or 7), "day"
        if which == "this":
            return day + timedelta(days=wanted - day.weekday()), "day"
        if which == "week":  # "Tuesday week": a week after the coming Tuesday
            return day + timedelta(days=((wanted - day.weekday()) % 7 or 7) + 7), "day"
        return day - timedelta(days=back), "day"
    if match := _RELATIVE_PERIOD.match(text):
        if match["which"] == "past":
            return None  # "the past week" is the seven days before: a span, not a period
        step = {"last": -1, "previous": -1, "next": 1, "coming": 1}.get(match["which"], 0)
        if match["unit"] == "week":
            monday = day - timedelta(days=day.weekday())
            return monday + timedelta(weeks=step), "week"
        if match["unit"] == "month":
            return _shift_months(day, step), "month"
        return date(day.year + step, 1, 1), "year"
    if match := _AGO.match(text):
        count = int(match["count"]) if match["count"].isdigit() else _NUMBERS[match["count"]]
        unit = match["unit"]
        if unit == "day":
            return day - timedelta(days=count), "day"
        if unit == "week":
            return day - timedelta(weeks=count), "day"
        if unit == "month":
            return _shift_months(day, -count), "month"
        return date(day.year - count, 1, 1), "year"
    if match := _RELATIVE_MONTH.match(text):
        month = _month_number(match["month"])
        if month is None:
            return None
        year = day.year
        if match["which"] == "last":
            year -= 1 if month >= day.month else 0
        elif match["which"] == "next":
            year += 1 if month <= day.month else 0
        return date(year, month, 1), "month"
    return _month_day(_LEADING_WEEKDAY.sub("", text), day)  # "Tuesday, Sept. 30"


def _month_day(text: str, day: date) -> tuple[date, str] | None:
    """A month and day, or a month, without a year (see the module docstring)."""
    if match := _MONTH_DAY.match(text):
        month = _month_number(match["month"] or match["month2"])
        number = int(match["day"] or match["day2"])
        if month is None:
            return None
        candidates = []
        for year in (day.year - 1, day.year, day.year + 1):
            try:
                candidates.append(date(year, month, number))
            except ValueError:
                continue
        if not candidates:
            return None
        nearest = min(candidates, key=lambda candidate: (abs(candidate - day), candidate))
        return nearest, "day"
    if match := _MONTH_ONLY.match(text):
        month = _month_number(match["month"])
        if month is None:
            return None
        return date(day.year - (1 if month > day.month else 0), month, 1), "month"
    return None


def _is_relative(text: str) -> bool:
    """Whether the mention needs the article's date: it carries no year of its own."""
    return _YEAR.search(text) is None


@lru_cache(maxsize=64)
def _date_parser(language: str, reference_day: date) -> DateDataParser:
    """One parser per language and day: building one is cheap, but a warm one parses a mention
    in well under a millisecond against several for a cold one."""
    base = datetime.combine(reference_day, datetime.min.time())
    return DateDataParser(
        languages=[language], settings={"PREFER_DATES_FROM": "past", "RELATIVE_BASE": base}
    )


# Absolute dates carry their own year; the parser still needs some base day to be built with.
_ANY_DAY = date(2000, 1, 1)


def resolve_mentions(
    mentions: Sequence[str], *, reference: datetime | date | None, language: str
) -> list[dict[str, str]]:
    """Each distinct point in time the text names, as ``{"text", "date", "resolution"}``
    (resolution: day, week, month or year; a week is dated by its Monday, a month or year by
    its first day), resolved against the article's publication day ``reference``.

    Without a reference (an article with no publication date) only mentions that carry their
    own year are resolved; see ``unresolved_mentions`` for the others."""
    day = _day_of(reference) if reference is not None else None
    parser = _date_parser(language, day or _ANY_DAY)
    found: dict[tuple[str, str], dict[str, str]] = {}
    for text in _candidates(mentions):
        folded = _QUALIFIERS.sub("", text.casefold()).strip()
        relative = _is_relative(text)
        if relative and day is None:
            continue
        resolved = _relative(folded, day) if relative and day is not None else None
        if resolved is None:
            if relative and language == "en":
                continue  # an English relative phrase no rule above dates: not guessed at
            resolved = _parse(parser, text)
        if resolved is None:
            continue
        value, resolution = resolved
        key = (value.isoformat(), resolution)
        found.setdefault(key, {"text": text, "date": value.isoformat(), "resolution": resolution})
        if len(found) == MAX_MENTIONS:
            break
    return list(found.values())


def unresolved_mentions(mentions: Sequence[str]) -> list[str]:
    """The distinct mentions that name a point in time only relative to the article's date
    ("on Tuesday", "last week", "September 30"): left unresolved when the article has none."""
    return list(dict.fromkeys(text for text in _candidates(mentions) if _is_relative(text)))


def _candidates(mentions: Sequence[str]) -> list[str]:
    """The mentions that may name a point in time: anchored to a month, a year or the article's
    date, not a decade, a duration or a moment of the story's own narrative."""
    kept = []
    for mention in mentions:
        text = " ".join(mention.split())
        if len(text) > 60 or not _ANCHORED.search(text) or _DECADE.search(text):
            continue
        folded = text.casefold()
        if _NARRATIVE.search(folded) and not folded.endswith(("yesterday", "tomorrow")):
            continue
        kept.append(text)
    return kept


def _parse(parser: DateDataParser, text: str) -> tuple[date, str] | None:
    try:
        data = parser.get_date_data(_LEADING_NOISE.sub("", text))
    except (ValueError, KeyError, OverflowError):
        return None
    if data.date_obj is None:
        return None
    resolution = data.period if data.period in ("week", "month", "year") else "day"
    value = data.date_obj.date()
    if resolution == "year":
        value = value.replace(month=1, day=1)
    elif resolution == "month":
        value = value.replace(day=1)
    elif resolution == "week":
        value -= timedelta(days=value.weekday())
    return value, resolution
