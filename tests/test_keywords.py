"""Keyphrases people would write: noun phrases and whole names, no verb, no cut name (issue 13).

Unit tests of ``worker.enrich.keywords`` on hand-written stories and on the given sample, with
spaCy's model loaded as the worker loads it (no services needed).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.schema import ArticleIn, to_payload
from worker.enrich import enrich_batch
from worker.enrich.keywords import MAX_KEYWORDS, MAX_WORDS, extract_keywords
from worker.enrich.nlp import parse_texts
from worker.enrich.registry import named
from worker.enrich.summary import stop_words

# Verbs of saying, in the forms a story uses them.
REPORTING_VERBS = frozenset(
    [
        "said",
        "says",
        "told",
        "tells",
        "added",
        "adds",
        "noted",
        "notes",
        "stressed",
        "stresses",
        "explained",
        "explains",
        "emphasized",
        "emphasised",
        "announced",
        "announces",
        "concluded",
        "concludes",
        "stated",
        "states",
        "claimed",
        "warned",
        "urged",
        "asked",
        "replied",
        "insisted",
    ]
)
# Steps the keyphrases read (title, dateline, language, the parse), and the keyphrase step.
_STEPS = named(
    "strip_date_line",
    "take_headline",
    "find_dateline",
    "identify_language",
    "derive_missing_title",
    "count_body_words",
    "parse_english",
    "find_keywords",
)


def _keyphrases(title: str | None, body: str) -> list[str]:
    return extract_keywords(title, body, "en", parse_texts([body])[0])


def _enriched(body: str, **fields: Any) -> Mapping[str, Any]:
    article = ArticleIn(body=body, **fields)
    payload = to_payload(article, content_type="text/plain", received_at=datetime.now(UTC))
    result = enrich_batch([payload], _STEPS)
    assert not result.failures
    return result.documents[0]


def _assert_tag_like(phrases: list[str], text: str) -> None:
    """What every keyphrase must be, whatever the story."""
    stops = stop_words("en")
    assert 0 < len(phrases) <= MAX_KEYWORDS
    for phrase in phrases:
        words = phrase.casefold().split()
        assert not REPORTING_VERBS & set(words), phrase
        # no function word at an edge ("of", "the"; a name may be "Theresa May")
        edges = {word for word in (phrase.split()[0], phrase.split()[-1]) if word.islower()}
        assert not edges & stops, phrase
        assert len(words) <= MAX_WORDS, phrase
        assert phrase.casefold() in text.casefold(), phrase  # the text's own words
        assert not any(word.isdigit() for word in words), phrase


@pytest.fixture(scope="module")
def sample_keyphrases(sample_text: str) -> list[str]:
    doc = _enriched(sample_text, source="Trend")
    keywords: list[str] = doc["keywords"]
    return keywords


def test_the_sample_has_no_reporting_verb_and_no_cut_name(
    sample_keyphrases: list[str], sample_text: str
) -> None:
    _assert_tag_like(sample_keyphrases, sample_text)
    folded = [phrase.casefold() for phrase in sample_keyphrases]
    assert "told trend" not in folded
    # "Center for National Content Production" whole, or not at all
    whole = ["center", "for", "national", "content", "production"]
    for phrase in folded:
        words = phrase.split()
        parts = [whole[i : i + n] for n in range(1, len(whole)) for i in range(len(whole) - n + 1)]
        assert words not in parts, phrase
    # YAKE proposed "Azerbaijan Media Development" (a name cut): it reads whole
    assert "azerbaijan media development" not in folded
    assert "azerbaijan media development agency" in folded
    assert "dilshod saidzhanov" in folded


def test_a_cut_name_becomes_the_whole_name() -> None:
    body = (
        "The Center for National Content Production signed a memorandum with the Media "
        "Development Agency on Tuesday, officials told Trend. The Center for National Content "
        "Production will train press secretaries from next year, and the Center for National "
        "Content Production will organise media tours for journalists."
    )
    title = "Content agencies sign memorandum"
    phrases = _keyphrases(title, body)
    _assert_tag_like(phrases, f"{title}\n{body}")
    assert "Center for National Content Production" in phrases
    assert not any(p in {"Center for National", "National Content Production"} for p in phrases)


def test_verbs_and_titles_before_names_are_left_off() -> None:
    body = (
        "Prime Minister Theresa May told lawmakers on Wednesday that the trade agreement with "
        "Canada would protect steel jobs. Finance minister Philip Hammond said the trade "
        "agreement removed tariffs on steel exports. Steel exports to Canada rose last year, "
        "the statistics office noted, and steel producers welcomed the trade agreement."
    )
    title = "Britain and Canada agree steel trade deal"
    phrases = _keyphrases(title, body)
    _assert_tag_like(phrases, f"{title}\n{body}")
    folded = {phrase.casefold() for phrase in phrases}
    assert "theresa may" in folded
    assert "trade agreement" in folded
    assert not {"prime minister", "finance minister", "minister theresa may"} & folded
    assert not any(phrase.startswith(("told ", "said ")) for phrase in folded)


def test_a_phrase_that_runs_into_a_noun_is_cut_and_dropped() -> None:
    body = (
        "The intense independence referendum campaign began in Edinburgh on Monday. "
        "Campaigners said the independence referendum campaign would reach every town, and "
        "the Scottish Parliament debated the independence referendum campaign for hours."
    )
    phrases = _keyphrases(None, body)
    _assert_tag_like(phrases, body)
    folded = {phrase.casefold() for phrase in phrases}
    assert "independence referendum campaign" in folded
    assert not {"independence referendum", "intense independence referendum"} & folded


def test_a_title_case_headline_gives_no_verb() -> None:
    body = (
        "A laptop holding floor plans of Trump Tower was stolen from a Secret Service agent's "
        "car in Brooklyn on Thursday, police said. The Secret Service said the laptop held no "
        "classified information. Police are looking for the thief."
    )
    title = "Secret Service Laptop Holding Trump Tower Floor Plans Stolen From Agent's Car"
    phrases = _keyphrases(title, body)
    _assert_tag_like(phrases, f"{title}\n{body}")
    folded = {phrase.casefold() for phrase in phrases}
    assert {"secret service", "trump tower"} <= folded
    assert not any("stolen" in phrase or "holding" in phrase for phrase in folded)


def test_a_language_without_a_parser_keeps_yake_without_stop_words_at_the_edges() -> None:
    body = (
        "Die Bundesregierung hat am Dienstag ein neues Klimaschutzgesetz beschlossen. Das "
        "Klimaschutzgesetz sieht vor, dass Deutschland bis 2045 klimaneutral wird. Die "
        "Opposition kritisierte das Klimaschutzgesetz als zu schwach."
    )
    phrases = extract_keywords("Kabinett beschließt Klimaschutzgesetz", body, "de")
    stops = stop_words("de")
    assert phrases
    for phrase in phrases:
        words = phrase.casefold().split()
        assert words[0] not in stops, phrase
        assert words[-1] not in stops, phrase
    assert any("klimaschutzgesetz" in phrase.casefold() for phrase in phrases)


def test_descriptions_and_cited_sources_are_no_tags() -> None:
    body = (
        "Thousands of fans gathered in Berlin, the German capital. The film festival in Berlin "
        "opened with a new documentary about river pollution, Festival director Anna Weber told "
        "Deutsche Welle. River pollution has grown along the Spree, a Deutsche Welle "
        "correspondent reported, and the festival will show three films about river pollution."
    )
    title = "Berlin festival opens with river pollution film"
    phrases = _keyphrases(title, body)
    _assert_tag_like(phrases, f"{title}\n{body}")
    folded = {phrase.casefold() for phrase in phrases}
    assert any("river pollution" in phrase for phrase in folded)
    assert "anna weber" in folded
    assert not {"german capital", "deutsche welle", "festival director"} & folded
