"""Summaries that are a real reduction (issue 13): whole sentences, at most three and a third
of the article's words; none for an article too short to reduce, with the reason recorded."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.schema import ArticleIn, to_payload
from worker.enrich import enrich_batch
from worker.enrich.registry import named
from worker.enrich.summary import (
    MAX_SENTENCES,
    MAX_SHARE,
    split_sentences,
    summarise,
    too_short,
)

THREE_SENTENCES = (
    "Fire crews in Hamburg put out a blaze at a warehouse in the harbour district on Sunday "
    "night after it burned for several hours. Nobody was hurt in the fire, a spokesman for the "
    "city's fire service said on Monday morning. The cause of the fire at the warehouse is not "
    "yet known and the police have opened an investigation into it."
)


def _words(sentences: list[str]) -> int:
    return sum(len(sentence.split()) for sentence in sentences)


def test_the_sample_summary_is_at_most_a_third_of_it_in_whole_sentences(
    sample_text: str,
) -> None:
    sentences = split_sentences(sample_text)
    summary = summarise(sentences, title="Uzbekistan and Azerbaijan media forum", language="en")
    assert 1 <= len(summary) <= MAX_SENTENCES
    assert _words(summary) <= MAX_SHARE * _words(sentences)
    assert all(sentence in sentences for sentence in summary)  # whole, never cut


def test_a_three_sentence_story_gets_one_sentence_at_most() -> None:
    sentences = split_sentences(THREE_SENTENCES)
    assert len(sentences) == 3
    summary = summarise(sentences, title="Warehouse fire in Hamburg", language="en")
    assert len(summary) <= 1
    assert _words(summary) <= MAX_SHARE * _words(sentences)


def test_no_sentence_fits_a_third_of_an_article_of_three_long_sentences() -> None:
    # The first sentence is more than a third of the words: the summary would not reduce.
    sentences = [
        "The city council voted on Tuesday to close the old harbour bridge to cars and lorries "
        "from next spring, after engineers found cracks in two of its supporting piers.",
        "Cyclists may still use the bridge.",
        "Repairs will start in May and take about two years to finish, the council said.",
    ]
    summary = summarise(sentences, title="Harbour bridge closes to cars", language="en")
    assert all(_words([sentence]) <= MAX_SHARE * _words(sentences) for sentence in summary)
    assert sentences[0] not in summary


def test_a_short_story_gets_no_summary_and_says_why() -> None:
    story = "Police closed the road. It reopened an hour later."
    assert too_short(split_sentences(story))
    assert summarise(split_sentences(story), title=None, language="en") == []
    payload = to_payload(
        ArticleIn(title="Road reopens", body=story, language="en"),
        content_type="text/plain",
        received_at=datetime.now(UTC),
    )
    result = enrich_batch([payload], named("identify_language", "summarise_article"))
    (doc,) = result.documents
    assert "summary" not in doc or not doc["summary"]
    (reason,) = doc["enrichment"]["skipped"]
    assert reason.startswith("summarise_article: article too short to summarise")


def test_no_summary_sentence_lies_in_a_quotation_or_across_paragraphs() -> None:
    # spaCy-like sentences: the best-scoring ones (full of the headline's words) open, continue
    # and close a quotation; one runs across a paragraph break.
    sentences = [
        "Officials from both countries met in Baku on Monday for talks about television.",
        '"The media forum memorandum sets out media forum plans for all media partners.',
        "Under the memorandum the media forum will hold media forum training on media work.",
        'The media forum memorandum is a media forum success," he said.\n\nThe talks ended on '
        "Tuesday in the evening.",
        "Both sides agreed to meet again next year in Tashkent for more talks and visits.",
        "The meeting also covered tourism and culture exchanges between the two countries.",
    ]
    summary = summarise(sentences, title="Media forum memorandum", language="en")
    assert summary
    for sentence in summary:
        assert "\n" not in sentence
        assert '"' not in sentence
        assert not sentence.startswith("Under the memorandum")
