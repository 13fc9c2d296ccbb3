"""Datelines across agencies and decades (worker.enrich.dateline), and the publication day read
from them (date_from_dateline). Pure functions: no services needed."""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime

import pytest

from worker.enrich.dateline import MAX_DATELINE_CHARS, parse_dateline
from worker.enrich.dates import resolve_day
from worker.enrich.steps.date_from_dateline import date_from_dateline
from worker.enrich.steps.find_dateline import find_dateline

RECEIVED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

# (opening, place, country, date_text, agency)
STYLES = [
    # Reuters 1987 (Reuters-21578): all-caps month, states abbreviated, hard-wrapped body.
    (
        "NEW YORK, FEB 26 - Diamond Shamrock Corp said that\neffective today it had cut",
        "New York",
        "United States",
        "FEB 26",
        None,
    ),
    ("CRANFORD, N.J., Feb 26 - Ohio Mattress", "Cranford", "United States", "Feb 26", None),
    ("HOUSTON, Feb 26\n- Marathon Petroleum", "Houston", "United States", "Feb 26", None),
    ("CORNING, N.Y., March 2 - Corning Glass", "Corning", "United States", "March 2", None),
    ("TAHLEQUAH, OKLA., March 2 - x", "Tahlequah", "United States", "March 2", None),
    ("GARDEN CITY, N.Y., March 2 - x", "Garden City", "United States", "March 2", None),
    ("CALGARY, Alberta, Feb 26 - Nova", "Calgary", "Canada", "Feb 26", None),
    ("New York, Feb 26 - American Express", "New York", "United States", "Feb 26", None),
    ("BAHRAIN, March 1 - Deputy oil ministers", "Bahrain", "Bahrain", "March 1", None),
    ("LONDON, Mar 2 - Shares", "London", "United Kingdom", "Mar 2", None),
    ("LONDON, 26 Feb - Shares", "London", "United Kingdom", "26 Feb", None),
    # Reuters 1996 (RCV1, CoNLL-2003): place and ISO date on a line of their own.
    ("LONDON 1996-08-30\nWest Indian all-rounder", "London", "United Kingdom", "1996-08-30", None),
    ("BRUSSELS 1996-08-22 The European Commission", "Brussels", "Belgium", "1996-08-22", None),
    ("LOWELL, Mass 1997-01-19", "Lowell", "United States", "1997-01-19", None),  # all there is
    (
        "[CORRECTED 21:48 GMT] WASHINGTON 1997-04-13",
        "Washington",
        "United States",
        "1997-04-13",
        None,
    ),
    # The place as written, when the gazetteer knows it by another name.
    ("KUWAIT, March 1 - Kuwait's Oil Minister", "Kuwait", "Kuwait", "March 1", None),
    ("CALCUTTA, India 1997-03-16", "Calcutta", "India", "1997-03-16", None),
    # Other languages: day-first months of Spanish, French, German, Russian.
    ("Madrid, 3 jun (EFE).- El Gobierno", "Madrid", "Spain", "3 jun", "EFE"),
    ("BERLIN, 18. Juni (dpa) - Die", "Berlin", "Germany", "18. Juni", "dpa"),
    ("МОСКВА, 18 июня. /ТАСС/. Президент", "Москва", None, "18 июня.", "ТАСС"),
    # Chinese, Japanese, Korean agencies; the place as written.
    ("新华社北京6月18日电（记者张三）中国", "北京", None, "6月18日", "新华社"),
    ("【ワシントン＝共同】トランプ", "ワシントン", None, None, "共同"),
    ("(서울=연합뉴스) 김철수 기자 =", "서울", None, None, "연합뉴스"),
    # Papers in Indian scripts: the place and a colon (the gazetteer has no such names).
    ("বীরভূম: লোকসভা নির্বাচনে", "বীরভূম", None, None, None),
    # Reuters today.
    ("LONDON, March 3 (Reuters) - Oil", "London", "United Kingdom", "March 3", "Reuters"),
    ("WASHINGTON (Reuters) - The", "Washington", "United States", None, "Reuters"),
    (
        "NEW YORK/LONDON, Feb 3 (Reuters) - Stocks",
        "New York",
        "United States",
        "Feb 3",
        "Reuters",
    ),
    (
        "KUALA LUMPUR, Malaysia,\nMarch 3 (Reuters) - x",
        "Kuala Lumpur",
        "Malaysia",
        "March 3",
        "Reuters",
    ),
    ("LONDON (Reuters) March 3 - x", "London", "United Kingdom", "March 3", "Reuters"),
    # AP, old and new.
    ("WASHINGTON (AP) _ President Clinton", "Washington", "United States", None, "AP"),
    ("KYIV, Ukraine (AP) — Russia", "Kyiv", "Ukraine", None, "AP"),
    ("TRENTON, N.J. (AP) — A judge", "Trenton", "United States", None, "AP"),
    ("PORTLAND, Maine (AP) — A", "Portland", "United States", None, "AP"),
    ("ATLANTA, Georgia (AP) — A", "Atlanta", "United States", None, "AP"),
    ("TBILISI, Georgia (AP) — A", "Tbilisi", "Georgia", None, "AP"),
    ("UNITED NATIONS (AP) — The Security", "United Nations", None, None, "AP"),
    ("LOS ANGELES, Calif. -- Police said", "Los Angeles", "United States", None, None),
    # AFP, UPI, Xinhua, TASS, PTI, EFE, Interfax.
    ("PARIS, March 3 (AFP) - France", "Paris", "France", "March 3", "AFP"),
    ("WASHINGTON, May 5 (UPI) -- The", "Washington", "United States", "May 5", "UPI"),
    ("BEIJING, Dec. 1 (Xinhua) -- China's", "Beijing", "China", "Dec. 1", "Xinhua"),
    ("MOSCOW, December 1. /TASS/. The Kremlin", "Moscow", "Russia", "December 1", "TASS"),
    ("MOSCOW, March 3 /ITAR-TASS/. Russia", "Moscow", "Russia", "March 3", "ITAR-TASS"),
    ("BONN /Germany/, February 16. /TASS/. Russian", "Bonn", "Germany", "February 16", "TASS"),
    ("KUMERTAU (Bashkiria), March 30. /TASS/. The", "Kumertau", "Russia", "March 30", "TASS"),
    ("New Delhi, Jan 5 (PTI) The government", "New Delhi", "India", "Jan 5", "PTI"),
    ("MADRID, 3 Mar (EFE).- El Gobierno", "Madrid", "Spain", "3 Mar", "EFE"),
    ("MOSCOW. Dec 1 (Interfax) - Russia", "Moscow", "Russia", "Dec 1", "Interfax"),
    # Trend, in its styles of 2008 and today.
    ("Azerbaijan, Baku, 5 December / Trend / Oil", "Baku", "Azerbaijan", "5 December", "Trend"),
    ("BAKU, Azerbaijan, Sept. 30\n\nBy Leman Zeynalova", "Baku", "Azerbaijan", "Sept. 30", None),
    # Press releases.
    (
        "ARMONK, N.Y., May 5, 2004 /PRNewswire-FirstCall/ -- IBM today",
        "Armonk",
        "United States",
        "May 5, 2004",
        "PRNewswire-FirstCall",
    ),
    (
        "SAN FRANCISCO--(BUSINESS WIRE)--Acme Corp.",
        "San Francisco",
        "United States",
        None,
        "BUSINESS WIRE",
    ),
    (
        "NEW YORK, March 3, 2021 (GLOBE NEWSWIRE) -- Acme",
        "New York",
        "United States",
        "March 3, 2021",
        "GLOBE NEWSWIRE",
    ),
    (
        "VANCOUVER, BC / ACCESSWIRE / December 1, 2026 / Acme",
        "Vancouver",
        "Canada",
        "December 1, 2026",
        "ACCESSWIRE",
    ),
    # Others.
    ("WELLINGTON, N.Z. (AP) — x", "Wellington", "New Zealand", None, "AP"),
    (
        "NEW YORK, Tuesday, March 3 (Reuters) - x",
        "New York",
        "United States",
        "Tuesday, March 3",
        "Reuters",
    ),
    ("ZÜRICH, March 3 (Reuters) - x", "Zürich", "Switzerland", "March 3", "Reuters"),
    ("RIO DE JANEIRO, Brazil (AP) — Police", "Rio de Janeiro", "Brazil", None, "AP"),
    ("PORT-AU-PRINCE, Haiti (AP) — A", "Port-au-Prince", "Haiti", None, "AP"),
    ("WASHINGTON -House lawmakers on Thursday", "Washington", "United States", None, None),
    ("NEW DELHI: The government", "New Delhi", "India", None, None),
    # Broadcasters credit themselves as the agencies do; AOL News put the date in brackets.
    ("Atlanta (CNN) -- Officials said", "Atlanta", "United States", None, "CNN"),
    ("NAIROBI, Kenya (BBC) - Police", "Nairobi", "Kenya", None, "BBC"),
    ("LOS ANGELES (Oct. 2) -- The city", "Los Angeles", "United States", "Oct. 2", None),
]


def _folded(name: str) -> str:
    """A place name without accents: the gazetteer's display names (Zürich or Zurich) are
    another step's choice; which place it is, is this one's."""
    return "".join(c for c in unicodedata.normalize("NFKD", name) if c.isascii()).casefold()


@pytest.mark.parametrize(("opening", "place", "country", "date_text", "agency"), STYLES)
def test_dateline_styles(
    opening: str, place: str, country: str | None, date_text: str | None, agency: str | None
) -> None:
    dateline = parse_dateline(opening)
    assert dateline is not None
    assert (_folded(dateline.place), dateline.country, dateline.date_text, dateline.agency) == (
        _folded(place),
        country,
        date_text,
        agency,
    )
    # The raw dateline is the text's own start, so later steps can take it off.
    assert opening.startswith(dateline.raw)


@pytest.mark.parametrize(
    "opening",
    [
        "AI — the future is here",
        "US stocks rose on Monday",
        "NEW: The president said",
        "BREAKING NEWS - A fire",
        "NATO - The alliance said",
        "EU - Brussels said",
        "UPDATE 2-Oil prices fall",
        "FACTBOX-Key facts on the vote",
        "EXCLUSIVE - Firm plans",
        "OIL PRICES FALL\nLONDON, March 3 (Reuters) - Oil",
        "CHINA'S EXPORTS RISE - figures",
        "DIAMOND SHAMROCK (DIA) CUTS CRUDE PRICES",
        "IBM (IBM) - shares rose",
        "HOUSTON, we have a problem",
        "PARIS, Texas, is a small town",
        "Apple, Google and Microsoft - the big three",
        "Paris — the city of light — is",
        "Washington. The capital",
        "London is calling - said",
        "On Tuesday, March 3, the council voted",
        "In March 2020 - the",
        "COVID-19: cases rise",
        "Sunday, 9 January-2011 was the day",
        "DW: Donald Trump has handed over",
    ],
)
def test_not_datelines(opening: str) -> None:
    assert parse_dateline(opening) is None


def test_region_picks_the_city_of_that_state() -> None:
    portland = parse_dateline("PORTLAND, Ore. (AP) — A")
    columbus = parse_dateline("COLUMBUS, Ohio, Feb 26 - x")
    assert portland is not None
    assert columbus is not None
    assert portland.longitude is not None
    assert portland.longitude < -120
    assert columbus.longitude is not None
    assert -84 < columbus.longitude < -82


@pytest.mark.parametrize(
    "hostile",
    [
        "A." * 500_000,
        "NEW YORK" + " " * 500_000 + ", Feb 26 -",
        "MAY " * 200_000,
        "LONDON, " + "Feb 26, " * 100_000,
        "LONDON " + "(Reuters) " * 100_000,
        "\n" * 500_000 + "LONDON (Reuters) - x",
    ],
)
def test_hostile_openings_are_bounded(hostile: str) -> None:
    dateline = parse_dateline(hostile)
    assert dateline is None or len(dateline.raw) <= MAX_DATELINE_CHARS


def test_dateline_day_uses_a_written_year_and_infers_a_missing_one() -> None:
    assert resolve_day("FEB 26", reference=RECEIVED) == date(2026, 2, 26)
    assert resolve_day("May 5, 2004", reference=RECEIVED) == date(2004, 5, 5)
    assert resolve_day("1996-08-30", reference=RECEIVED) == date(1996, 8, 30)
    assert resolve_day("Tuesday, March 3", reference=RECEIVED) == date(2026, 3, 3)
    # A dateline east of UTC may be a day ahead of the moment it reached us, not more.
    assert resolve_day("Dec 2", reference=RECEIVED) == date(2026, 12, 2)
    assert resolve_day("Dec 3", reference=RECEIVED) == date(2025, 12, 3)
    assert resolve_day("Feb 29", reference=RECEIVED) == date(2024, 2, 29)
    assert resolve_day("18 июня.", reference=RECEIVED) == date(2026, 6, 18)
    assert resolve_day("6月18日", reference=RECEIVED) == date(2026, 6, 18)
    # dateparser reads a one-digit month of Chinese and Japanese datelines, not a two-digit one.
    assert resolve_day("11月17日", reference=RECEIVED) == date(2026, 11, 17)
    assert resolve_day("12月25日", reference=RECEIVED) == date(2025, 12, 25)
    assert resolve_day("2024年10月3日", reference=RECEIVED) == date(2024, 10, 3)
    assert resolve_day("13月5日", reference=RECEIVED) is None


def _doc(body: str, **fields: object) -> dict[str, object]:
    return {"body": body, "received_at": RECEIVED.isoformat(), "language": "en"} | fields


def test_published_at_from_the_dateline_is_marked_as_from_the_dateline() -> None:
    doc = _doc("NEW YORK, FEB 26 - Diamond Shamrock Corp said that\neffective today")
    doc |= find_dateline(doc)
    assert date_from_dateline(doc) == {
        "published_at": "2026-02-26",  # no year written: the latest 26 February received
        "published_at_source": "dateline",
    }
    dated = _doc("ARMONK, N.Y., May 5, 2004 /PRNewswire/ -- IBM today said")
    dated |= find_dateline(dated)
    assert date_from_dateline(dated)["published_at"] == "2004-05-05"
    given = _doc("LONDON, March 3 (Reuters) - x", published_at="2026-03-04")
    given |= find_dateline(given)
    assert date_from_dateline(given) == {}
