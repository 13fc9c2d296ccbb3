"""Unit tests of keywords, summary, tone, dates mentioned, HTML extraction and the batch runner."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import pytest

from shared.schema import ArticleIn, canonical_link, to_payload
from worker.enrich import Document, Step, enrich_batch, model_versions, skipped
from worker.enrich.dates import resolve_mentions
from worker.enrich.html import extract_page
from worker.enrich.keywords import extract_keywords
from worker.enrich.registry import article_mappings, named
from worker.enrich.sentiment import score_tone
from worker.enrich.summary import split_sentences, stop_words, summarise

REFERENCE = datetime(2025, 9, 30, 12, tzinfo=UTC)
PAGE = """<html><head><title>Harbour reopens | Example Wire</title>
<link rel="canonical" href="https://example.org/harbour/1">
<meta name="author" content="Ann Writer"><meta property="og:site_name" content="Example Wire">
<meta property="article:published_time" content="2025-10-01T08:00:00Z"></head>
<body><nav>Home | World | Sport</nav><article><h1>Harbour reopens</h1>
<p>HAMBURG, Germany, October 1. The harbour reopened on Monday after the storm, the port
authority said. Ships had queued overnight waiting to enter the port.</p>
<p>"We are open again," said Anna Schmidt, the harbour master.</p></article>
<footer>Copyright Example Wire. All rights reserved.</footer></body></html>"""


def test_keywords_are_deduplicated() -> None:
    text = (
        "The Media Development Agency signed a memorandum. The Media Development Agency will hold "
        "media forums with the Media Development Agency of Uzbekistan. Media forums matter."
    )
    keywords = extract_keywords("Media Development Agency signs memorandum", text, "en")
    folded = [k.casefold() for k in keywords]
    assert "media development agency" in folded
    assert len(folded) == len(set(folded))
    assert "media development" not in folded  # inside a longer kept phrase
    assert 0 < len(keywords) <= 10


def test_summary_picks_covering_sentences_in_order(sample_text: str) -> None:
    sentences = split_sentences(sample_text)
    summary = summarise(
        sentences, title="Uzbekistan and Azerbaijan strengthen media cooperation", language="en"
    )
    assert 2 <= len(summary) <= 3
    assert [sentences.index(s) for s in summary] == sorted(sentences.index(s) for s in summary)
    assert any("media" in s.casefold() for s in summary)


def test_stop_words_come_from_spacy_without_a_model() -> None:
    assert "the" in stop_words("en")
    assert "und" in stop_words("de")
    assert stop_words("xx-not-a-language") == frozenset()


def test_tone() -> None:
    good = score_tone(["The rescue was a wonderful success and everyone is happy."])
    bad = score_tone(["The attack killed dozens and left the city in terrible grief."])
    assert good["label"] == "positive"
    assert bad["label"] == "negative"
    assert score_tone([])["label"] == "neutral"


def test_dates_mentioned_are_resolved_and_durations_ignored() -> None:
    found = resolve_mentions(
        [
            "September 30",
            "the year 2021",
            "two years",
            "24-hour",
            "Monday",
            "the 1990s",
            "last year",
        ],
        reference=REFERENCE,
        language="en",
    )
    by_text = {item["text"]: (item["date"], item["resolution"]) for item in found}
    assert by_text == {
        "September 30": ("2025-09-30", "day"),
        "the year 2021": ("2021-01-01", "year"),
        "Monday": ("2025-09-29", "day"),
        "last year": ("2024-01-01", "year"),
    }


def test_html_page_extraction() -> None:
    page = extract_page(PAGE)
    assert page is not None
    assert page.text.startswith("HAMBURG, Germany")
    assert "Copyright" not in page.text
    assert "Home | World" not in page.text
    assert page.title == "Harbour reopens"
    assert page.authors == ["Ann Writer"]
    assert page.site_name == "Example Wire"
    assert page.published == "2025-10-01"
    assert extract_page("<html><body></body></html>") is None


def test_html_article_id_uses_the_canonical_link() -> None:
    assert canonical_link(PAGE) == "https://example.org/harbour/1"
    first = to_payload(ArticleIn(html=PAGE), content_type="text/html", received_at=REFERENCE)
    again = to_payload(
        ArticleIn(html=PAGE.replace("Sport", "Sport | Weather")),
        content_type="text/html",
        received_at=REFERENCE,
    )
    assert first["id"] == again["id"]
    assert first["url"] == "https://example.org/harbour/1"


def test_enrich_html_payload() -> None:
    payload = to_payload(ArticleIn(html=PAGE), content_type="text/html", received_at=REFERENCE)
    result = enrich_batch([payload])
    assert not result.failures
    doc = result.documents[0]
    assert doc["title"] == "Harbour reopens"
    assert doc["source"] == "Example Wire"
    assert doc["published_at"] == "2025-10-01"
    assert doc["dateline"]["place"] == "Hamburg"
    assert doc["original"]["html"] == PAGE
    assert not any(key.startswith("_") for key in doc)


def test_one_failing_article_does_not_sink_the_batch() -> None:
    def explode_on_poison(doc: Mapping[str, Any]) -> Document:
        if "poison" in doc["body"]:
            raise RuntimeError("boom")
        return {"checked": True}

    def batch_that_fails_on_poison(docs: Sequence[Mapping[str, Any]]) -> list[Document]:
        if any("poison" in doc["body"] for doc in docs):
            raise RuntimeError("batch boom")
        return [skipped("nothing to do") for _ in docs]

    payloads = [
        to_payload(ArticleIn(body=body), content_type="text/plain", received_at=REFERENCE)
        for body in ("good one", "poison pill", "good two")
    ]
    (strip_date_line,) = named("strip_date_line")
    for steps in (
        (strip_date_line, Step("explode_on_poison", explode_on_poison)),
        (
            strip_date_line,
            Step("batch_that_fails_on_poison", batch_that_fails_on_poison, batch=True),
        ),
    ):
        result = enrich_batch(payloads, steps)
        assert [doc["body"] for doc in result.documents] == ["good one", "good two"]
        assert list(result.failures) == [payloads[1]["id"]]
    assert result.documents[0]["enrichment"]["skipped"] == [
        "batch_that_fails_on_poison: nothing to do"
    ]


def test_every_model_kind_is_mapped() -> None:
    models = article_mappings()["properties"]["enrichment"]["properties"]["models"]
    assert set(model_versions()) <= set(models["properties"])


@pytest.mark.parametrize(("when", "expected"), [("Sept. 30", date(2025, 9, 30))])
def test_dates_reference_is_the_publication_day(when: str, expected: date) -> None:
    found = resolve_mentions([when], reference=REFERENCE, language="en")
    assert found[0]["date"] == expected.isoformat()
