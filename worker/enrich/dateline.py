"""Leading ``date YYYY-MM-DD`` lines and datelines such as ``BAKU, Azerbaijan, September 30.``.

Written by hand: no maintained library parses news datelines; the patterns follow the wire
styles (AP, Reuters, AFP, Trend) of ``PLACE[, Region][, Month Day] [(Agency)] <separator>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from worker.enrich.gazetteer import Place, find_city, find_country, is_us_state, resolve_place

_DATE_PREFIX = re.compile(
    r"^\s*date\s*:?\s*(?P<date>\d{4}-\d{2}-\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2})?)?\s+",
    re.IGNORECASE,
)

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sept?(?:ember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_DAY_MONTH = rf"(?:{_MONTH}\s+\d{{1,2}}(?:,?\s+\d{{4}})?|\d{{1,2}}\s+{_MONTH}(?:\s+\d{{4}})?)"
_CAPS_WORD = r"[A-Z][A-Z'’.\-]*[A-Z.]"
_TITLE_WORD = r"[A-Z][A-Za-z'’.\-]*"
_DATELINE = re.compile(
    rf"^\s*(?P<place>{_CAPS_WORD}(?:\s+{_CAPS_WORD}){{0,3}})"
    r"(?:\s*\((?P<region_in_brackets>[A-Z][A-Za-z .'-]{1,30})\))?"
    rf"(?:\s*,\s*(?!{_DAY_MONTH})(?P<region>{_TITLE_WORD}(?:\s+{_TITLE_WORD}){{0,3}}))?"
    rf"(?:\s*,\s*(?P<date>{_DAY_MONTH}))?"
    r"\s*(?:\((?P<agency>[^()\n]{1,40})\))?"
    # Wire credits written between slashes: "February 7. /TASS/." or "2017 /PRNewswire/.-"
    r"(?:\s*[.,]?\s*/(?P<wire>[A-Za-z][A-Za-z .-]{1,30})/)?"
    r"\s*(?P<separator>\.-|--|[-–—:]|\.)"
)


# A dateline opens the text: only this much of it (after leading whitespace) is read. Without
# the bound, "A.B.C.D. ..., France." would make a place name as long as the body (an
# Elasticsearch keyword refuses terms over 32,766 bytes) and the pattern's optional parts read
# arbitrarily far.
MAX_DATELINE_CHARS = 1_000


@dataclass(frozen=True)
class Dateline:
    raw: str
    place: str
    region: str | None
    country: str | None
    country_code: str | None
    latitude: float | None
    longitude: float | None
    date_text: str | None
    agency: str | None


def split_date_prefix(text: str) -> tuple[date | None, str]:
    """A leading ``date 2025-09-30`` (on its own line or not) and the text after it."""
    match = _DATE_PREFIX.match(text)
    if not match:
        return None, text
    try:
        found = date.fromisoformat(match["date"])
    except ValueError:
        return None, text
    return found, text[match.end() :]


def _dateline_city(name: str, country_code: str | None) -> Place | None:
    """A dateline names a city: the gazetteer's best city reading (so "ST. PETERSBURG" is
    Russia's, not Florida's), within the stated country when there is one."""
    place = resolve_place(name, (country_code,) if country_code else ())
    if place is not None and place.kind == "city" and country_code in (None, place.country_code):
        return place
    return find_city(name, country_code)


def parse_dateline(text: str) -> Dateline | None:
    """The dateline that opens ``text``, with its place resolved to a country when possible.

    An all-caps opening counts as a dateline only when it has a region, a date or an agency,
    or when its place is a known city: so "AI — the future" is not read as a place.
    """
    match = _DATELINE.match(text.lstrip()[:MAX_DATELINE_CHARS])
    if not match:
        return None
    place_raw = match["place"].strip(" .")
    region = match["region"]
    agency = match["agency"] or match["wire"]
    # "BANGALORE (India)" names a region; "WASHINGTON (Reuters)" an agency.
    bracketed = match["region_in_brackets"]
    if bracketed and (find_country(bracketed) or is_us_state(bracketed)):
        region = region or bracketed
    elif bracketed:
        agency = agency or bracketed
    country_code: str | None = None
    country: str | None = None
    if region:
        found_country = find_country(region)
        if found_country:
            country_code, country = found_country
        elif is_us_state(region):
            country_code, country = "US", "United States"
    city = _dateline_city(place_raw, country_code)
    if city is None and not (region or match["date"] or agency):
        return None
    if city is not None and country_code is None:
        country_code, country = city.country_code, city.country
    return Dateline(
        raw=match.group(0).strip(),
        place=city.name if city else place_raw.title(),
        region=region,
        country=country,
        country_code=country_code,
        latitude=city.latitude if city else None,
        longitude=city.longitude if city else None,
        date_text=match["date"],
        agency=agency,
    )
