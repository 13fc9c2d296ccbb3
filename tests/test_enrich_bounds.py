"""Bounded enrichment (issue 12): every step ends quickly on the largest hostile articles that
ingest accepts and records what it cut in ``enrichment.truncated``; on ordinary text the
rewritten patterns and bounds give exactly what the old code gave.

The timed tests run the real steps with the models loaded as a worker loads them; their bound
(``STEP_BOUND_S``) is generous, and the old code missed it by hours (quadratic patterns on
1.9 MB: ``python -m bench.enrich_bounds``, docs/RELIABILITY.md "Bounded enrichment").
"""

from __future__ import annotations

import random
import re
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trafilatura
from datasketch import MinHash
from trafilatura.deduplication import LRU_TEST

from bench.enrich_bounds import HOSTILE, hostile_payload
from embedding.model import MAX_TEXT_CHARS, _model, clip, clip_changes
from shared.schema import MAX_BODY_CHARS, MAX_HTML_CHARS, MAX_TITLE_CHARS
from shared.settings import Settings
from worker.enrich import STEPS, enrich_batch, warm_up
from worker.enrich import quotes as quotes_module
from worker.enrich.duplicates import (
    _HASH_CHUNK,
    NUM_PERM,
    SEED,
    _minhash,
    _permutations,
    prepare,
    shingles,
    words,
)
from worker.enrich.entities import extract_entities
from worker.enrich.html import MAX_PAGE_ELEMENTS, extract_page
from worker.enrich.nlp import MAX_CHARS, MAX_TOKENS, parse_input, parse_texts
from worker.enrich.quotes import (
    _LAST_WORD,
    _PARAGRAPH_BREAK,
    _SENTENCE_BREAK,
    _content_end,
    extract_quotes,
)
from worker.enrich.suggest import TITLE_START_CHARS, _clip, _starts_title_suffix, title_inputs

SAMPLE = (
    Path(__file__).resolve().parents[2] / "shared" / "samples" / "trend-2025-09-30-media-forum.txt"
)
# Seconds any one step may take on a hostile article of the largest size (the old quotation
# step alone would have taken hours), and the whole article: the worker's default budget.
STEP_BOUND_S = 30.0
ARTICLE_BOUND_S = Settings().enrich_article_budget_s

# The patterns as they were before issue 12.
OLD_PARAGRAPH_BREAK = re.compile(r"\s*\n\s*|(?<=[.!?\"”])\s{3,}")
OLD_SENTENCE_BREAK = re.compile(r"(?P<word>[\w.-]+)[.!?][\"”]?\s+(?=[\"“]?[A-Z])")
OLD_LAST_WORD = re.compile(r"(?P<word>[\w.-]+)\.\s*$")

# Texts from the quotation and entity tests, and the corners of the patterns.
HAND_WRITTEN = [
    '"We are open again," said Anna Schmidt.\n\n"Ships queued," she added.   Then "more".',
    'He said: "Yes."   "No," she replied.\n \n \t"Maybe."\r\nEnd.  \u00a0 Next.',
    "Sen. Elizabeth Warren (D-Mass.) spoke. U.S. officials said. Capt. Jeff Davis told them.",
    'The U.N. said "It is over!" Then. "Again?" he asked. J. R. R. Tolkien wrote. a.b.c. D.',
    "“Curly,” he said.   “Quotes” here.\u2003\u2003\u2003After em spaces. Mr. Smith ... Ms. Lee!",
    "one-two. Three-four! Five? «Six» — seven.  Eight\n\n\nNine.",
    "   leading spaces. Trailing spaces.   ",
    '"Yes." a.a.a.a.a. B. c.d.e.F. G.H.I. "K." L',
]


def _corpus_texts() -> list[str]:
    from quality.corpus import news_articles

    return [article.text for article in news_articles()]


@pytest.fixture(scope="module")
def ordinary_texts() -> list[str]:
    """The sample, the hand-written corners and every article of the news corpus."""
    return [SAMPLE.read_text(encoding="utf-8"), *HAND_WRITTEN, *_corpus_texts()]


def _random_texts(count: int, seed: int = 12) -> Iterator[str]:
    """Short strings of the characters the patterns care about, every mix of them."""
    alphabet = [" ", " ", "\n", "\t", "\u00a0", ".", ".", "!", "?", '"', "”", "“", "-", "a", "b"]
    alphabet += ["A", "B", "é", "1", ",", "_"]
    chooser = random.Random(seed)
    for _ in range(count):
        yield "".join(chooser.choice(alphabet) for _ in range(chooser.randint(0, 60)))


def _matches(pattern: re.Pattern[str], text: str) -> list[tuple[tuple[int, int], dict[str, Any]]]:
    return [(match.span(), match.groupdict()) for match in pattern.finditer(text)]


# --- the same results on ordinary text ---------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [(OLD_PARAGRAPH_BREAK, _PARAGRAPH_BREAK), (OLD_SENTENCE_BREAK, _SENTENCE_BREAK)],
    ids=["paragraph_break", "sentence_break"],
)
def test_rewritten_quote_patterns_match_as_before(
    old: re.Pattern[str], new: re.Pattern[str], ordinary_texts: list[str]
) -> None:
    assert len(ordinary_texts) > 3_000
    for text in [*ordinary_texts, *_random_texts(20_000)]:
        assert _matches(new, text) == _matches(old, text), text[:200]


def test_last_word_pattern_finds_as_before(ordinary_texts: list[str]) -> None:
    """``_LAST_WORD`` reads the 30 characters before a sentence start."""
    windows = [
        text[max(0, end - 30) : end]
        for text in ordinary_texts[:300]
        for end in range(0, len(text), 7)
    ]
    for window in [*windows, *_random_texts(20_000, seed=3)]:
        old, new = OLD_LAST_WORD.search(window), _LAST_WORD.search(window)
        assert (old and (old.span(), old["word"])) == (new and (new.span(), new["word"])), window


def test_content_end_is_rstrip() -> None:
    for text in _random_texts(3_000, seed=5):
        for index in range(len(text) + 1):
            assert _content_end(text, index) == len(text[:index].rstrip())


def _old_title_inputs(title: str) -> list[str]:
    """The later-word starts as title_inputs made them before (joining the rest each time)."""
    from shared.suggest import clean_text

    words_ = clean_text(title).split(" ")
    return [
        _clip(" ".join(words_[index:]), TITLE_START_CHARS)
        for index in range(1, len(words_))
        if _starts_title_suffix(words_[index])
    ]


def test_title_suffixes_as_before() -> None:
    from quality.corpus import news_articles

    titles = [article.title for article in news_articles()]
    titles += ["a " * 500, "Harbour board meets in Paris " * 30, "x" * 999, "EU G7 in of a " * 70]
    for title in titles:
        _, later = title_inputs(title)
        old = list(dict.fromkeys(_old_title_inputs(title)))[: len(later)]
        assert [start.split("\x1c")[0] for start in later] == old, title


def test_quotes_with_a_bounded_reach_as_with_an_unbounded_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pronouns and roles are resolved among the latest ``_REFERENT_REACH`` mentions: on the
    corpus articles with the most quotations, the same speakers as with no bound at all."""
    texts = sorted(_corpus_texts(), key=lambda text: -text.count('"'))[:30]
    texts.append(SAMPLE.read_text(encoding="utf-8"))
    parsed = parse_texts(texts)
    people = [extract_entities(doc, dateline_place=None)["people"] for doc in parsed]
    bounded = [extract_quotes(t, d, p) for t, d, p in zip(texts, parsed, people, strict=True)]
    monkeypatch.setattr(quotes_module, "_REFERENT_REACH", 10**9)
    unbounded = [extract_quotes(t, d, p) for t, d, p in zip(texts, parsed, people, strict=True)]
    assert sum(len(found) for found in bounded) > 100
    assert bounded == unbounded


def test_ordinary_articles_are_parsed_whole(ordinary_texts: list[str]) -> None:
    for text in ordinary_texts:
        bounded = parse_input(text)
        assert (bounded.doc.text, bounded.chars, bounded.cuts) == (text, len(text), [])


def test_a_long_body_is_cut_at_a_line_break() -> None:
    paragraph = "The harbour reopened on Monday after the storm, the port authority said.\n"
    text = paragraph * (2 * MAX_CHARS // len(paragraph))
    bounded = parse_input(text)
    end = bounded.chars
    assert MAX_CHARS - len(paragraph) < end <= MAX_CHARS
    assert text[end - 1] == "\n"
    assert bounded.doc.text == text[:end]
    assert bounded.cuts == [f"body cut at {end} of {len(text)} characters"]


def test_a_body_of_too_many_tokens_is_cut_at_a_line_break() -> None:
    line = 'a "b “c ‘d «e\n'
    text = line * (MAX_CHARS // len(line))
    bounded = parse_input(text)
    assert len(bounded.doc) <= MAX_TOKENS < len(parse_input(text[: MAX_CHARS // 2]).doc) * 2
    assert text[bounded.chars - 1] == "\n"
    assert bounded.cuts == [f"body cut at {bounded.chars} of {len(text)} characters"]


def test_runs_without_spaces_are_blanked_in_place() -> None:
    text = 'Anna Schmidt said "yes". ' + '"' * 5_000 + " Then she left for Hamburg."
    bounded = parse_input(text)
    assert len(bounded.doc.text) == len(text)
    assert bounded.doc.text.endswith(" Then she left for Hamburg.")
    assert '""' not in bounded.doc.text
    assert bounded.cuts == ["1 run(s) of over 1000 characters without a space blanked"]


def _page(article: str, index: int) -> str:
    paragraphs = "".join(f"<p>{part}</p>\n" for part in article.split("\n") if part.strip())
    links = "".join(f"<li><a href='/s/{n}'>Section {n}</a></li>" for n in range(30))
    return (
        f"<html><head><title>Story {index} | Wire</title><meta name='author' content='A B'>"
        f"<script>var x = {index};</script><style>p {{ color: red }}</style></head><body>"
        f"<nav><ul>{links}</ul></nav><article><h1>Story {index}</h1>{paragraphs}</article>"
        "<footer>Copyright Wire. All rights reserved.</footer></body></html>"
    )


def _trafilatura_as_before(html: str) -> dict[str, Any] | None:
    LRU_TEST.clear()  # as in a fresh process (see test_the_same_page_extracts_the_same_every_time)
    found = trafilatura.bare_extraction(
        html,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        favor_precision=True,
        deduplicate=True,
    )
    if found is None:
        return None
    data: dict[str, Any] = found.as_dict() if hasattr(found, "as_dict") else dict(found)
    return data


def test_pages_extract_as_before() -> None:
    from tests.test_enrich_more_unit import PAGE

    pages = [PAGE] + [_page(text, i) for i, text in enumerate(_corpus_texts()[:40])]
    for html in pages:
        page, before = extract_page(html), _trafilatura_as_before(html)
        assert page is not None
        assert before is not None
        text = before["text"].strip()
        if before["title"] and text.startswith(before["title"]):
            text = text[len(before["title"]) :].lstrip()
        assert (page.text, page.title, page.published) == (text, before["title"], before["date"])
        assert page.cuts == []
    assert (
        extract_page("<html><head><title>Only a title</title></head><body> </body></html>") is None
    )


def test_the_same_page_extracts_the_same_every_time() -> None:
    from tests.test_enrich_more_unit import PAGE

    first = extract_page(PAGE)
    assert first is not None
    assert "harbour reopened" in first.text
    for _ in range(4):  # trafilatura's deduplication counted paragraphs across pages
        assert extract_page(PAGE) == first


def test_a_page_of_too_many_elements_is_cut() -> None:
    story = "<p>The harbour reopened on Monday after the storm, the port authority said.</p>"
    html = f"<html><body><article>{story * 5}</article>" + "<div></div>" * 50_000 + "</body></html>"
    page = extract_page(html)
    assert page is not None
    assert "harbour reopened" in page.text
    assert page.cuts == [
        f"page of 50008 elements cut to {MAX_PAGE_ELEMENTS} (scripts and styles first)"
    ]


def test_embedding_reads_the_same_pieces_after_the_clip(ordinary_texts: list[str]) -> None:
    tokenizer = _model().tokenizer
    long_texts = ["\n\n".join(ordinary_texts[i : i + 8]) for i in range(0, 400, 8)]
    long_texts = [text for text in long_texts if len(text) > MAX_TEXT_CHARS]
    assert len(long_texts) > 20
    for text in long_texts:
        assert clip(text) != text
        assert not clip_changes(text)
        assert tokenizer.encode(clip(text)).ids == tokenizer.encode(text).ids
    short = ordinary_texts[0]
    assert clip(short) == short
    assert not clip_changes(short)
    assert clip_changes("a " + " " * MAX_TEXT_CHARS + " the rest of the story")


def test_minhash_in_chunks_is_the_same_signature() -> None:
    text = " ".join(f"w{i}" for i in range(30_000))
    shingle_set = shingles(words(text))
    assert len(shingle_set) > 3 * _HASH_CHUNK
    whole = MinHash(
        num_perm=NUM_PERM,
        seed=SEED,
        hashfunc=zlib.crc32,
        scheme="affine32",
        permutations=_permutations(NUM_PERM),
    )
    whole.update_batch([shingle.encode() for shingle in shingle_set])  # at once, as before
    assert np.array_equal(_minhash(shingle_set, NUM_PERM).hashvalues, whole.hashvalues)


# --- hostile articles of the largest size --------------------------------------------------

# What each hostile article must end with: a failure naming its reason, or the cuts recorded.
FAILS = {
    "html_empty": "the HTML page has no main text",
    "html_nested": "the HTML page has no main text",
    "html_spaces": "the HTML page has no main text",
}
CUTS: dict[str, list[str]] = {
    name: ["parse_english: body cut at", "find_quotes: body cut at"]
    for name in HOSTILE
    if name not in FAILS and not name.startswith(("foreign", "html"))
}
CUTS |= {
    "foreign_dots": [],  # no parser for German; the rest is linear
    "foreign_spaces": ["embed_articles: text cut at"],
    "html_paragraphs": ["extract_html: page of", "parse_english: body cut at"],
    "html_title": ["extract_html: title cut at 1000 of"],
}


@pytest.fixture(scope="module")
def models() -> None:
    warm_up()


def test_hostile_inputs_are_of_the_largest_size() -> None:
    for name in HOSTILE:
        payload = hostile_payload(name)
        if payload.get("html"):
            assert MAX_HTML_CHARS * 0.9 < len(payload["html"]) <= MAX_HTML_CHARS, name
        else:
            assert MAX_BODY_CHARS * 0.9 < len(payload["body"]) <= MAX_BODY_CHARS, name
    assert MAX_TITLE_CHARS == 1_000


@pytest.mark.usefixtures("models")
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_article_is_bounded(name: str) -> None:
    payload = hostile_payload(name)
    started = time.perf_counter()
    result = enrich_batch([payload])
    whole = time.perf_counter() - started
    slow = {
        step: seconds for step, seconds in result.step_seconds.items() if seconds >= STEP_BOUND_S
    }
    assert not slow, slow
    assert whole < ARTICLE_BOUND_S
    if name in FAILS:
        assert FAILS[name] in result.failures[payload["id"]]
        return
    assert not result.failures
    assert set(result.step_seconds) == {step.name for step in STEPS}
    (document,) = result.documents
    truncated = document["enrichment"]["truncated"]
    for expected in CUTS[name]:
        assert any(cut.startswith(expected) for cut in truncated), (expected, truncated)
    # The near-duplicate check reads the whole body too (worker/pipeline.py).
    started = time.perf_counter()
    prepare(document["id"], document["body"])
    assert time.perf_counter() - started < STEP_BOUND_S


@pytest.mark.usefixtures("models")
def test_an_ordinary_article_records_no_cut(sample_text: str) -> None:
    payload = {**hostile_payload("spaces"), "body": sample_text, "language": None}
    (document,) = enrich_batch([payload]).documents
    assert document["enrichment"]["truncated"] == []
    assert document["quotes"]
