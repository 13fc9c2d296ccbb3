"""An extractive summary: the two or three sentences that best cover the article.

A summary is a real reduction of the article: whole sentences only (never cut; none that runs
across a line break, none that lies partly or wholly inside a quotation), at most
``MAX_SENTENCES`` of them, and at most ``MAX_SHARE`` (a third) of the article's words. An article
of fewer than ``MIN_SENTENCES`` sentences or ``MIN_ARTICLE_WORDS`` words is too short to reduce
and gets none (``too_short`` says why; the step records it in ``enrichment.skipped``).

Written by hand: the summarisation libraries (sumy, gensim's removed summariser) need NLTK data
downloaded at run time or are unmaintained. Scoring follows the classic frequency method
(Luhn; Nenkova & Vanderwende 2005) with a lead bonus, since news puts the essentials first.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

from spacy.util import get_lang_class

_WORD = re.compile(r"[^\W\d_]{3,}")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])[\"'”’»)]*\s+(?=[\"'“‘«(]?[A-Z0-9À-Ý])")
_MIN_WORDS, _MAX_WORDS = 6, 60
_LEAD_BONUS = (0.35, 0.15, 0.05)
_MAX_OVERLAP = 0.5
MAX_SENTENCES = 3
MAX_SHARE = 1 / 3
MIN_SENTENCES = 3
MIN_ARTICLE_WORDS = 60


@lru_cache(maxsize=32)
def stop_words(language: str) -> frozenset[str]:
    """spaCy's stop word list for the language (it ships them for ~70 languages, no model
    needed); empty when it has none."""
    try:
        return frozenset(get_lang_class(language).Defaults.stop_words)
    except Exception:  # spaCy raises ImportError/KeyError-like errors for unknown codes
        return frozenset()


def split_sentences(text: str) -> list[str]:
    """A plain splitter for languages without a parser; paragraphs always end a sentence."""
    sentences: list[str] = []
    for paragraph in text.split("\n"):
        sentences.extend(part.strip() for part in _SENTENCE_SPLIT.split(paragraph) if part.strip())
    return sentences


def _words(sentence: str, stops: frozenset[str]) -> list[str]:
    return [word for word in (w.casefold() for w in _WORD.findall(sentence)) if word not in stops]


def _overlap(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b)


def _by_paragraph(sentences: Sequence[str]) -> list[str]:
    """The sentences, with any that runs across a line break split there (a sentence splitter
    may join a paragraph's last words to the next paragraph's first)."""
    return [part.strip() for sentence in sentences for part in sentence.split("\n") if part.strip()]


def _outside_quotations(sentences: Sequence[str]) -> list[bool]:
    """For each sentence, whether it lies wholly outside quotations: a sentence that opens or
    closes a quotation without the other half, or stands inside one running over several
    sentences, reads as cut when taken alone. Quotation marks are counted in order, straight
    ones toggling (written by hand: the quote step's parse is not at hand here)."""
    outside: list[bool] = []
    inside = False
    for sentence in sentences:
        opens = sentence.count("“") + sentence.count("«")
        closes = sentence.count("”") + sentence.count("»")
        straight = sentence.count('"')
        outside.append(not inside and straight % 2 == 0 and opens == closes)
        if straight % 2:
            inside = not inside
        elif opens != closes:
            inside = opens > closes
    return outside


def too_short(sentences: Sequence[str]) -> str | None:
    """Why an article of these sentences gets no summary, or None when it can be reduced."""
    sentences = _by_paragraph(sentences)
    words = sum(len(sentence.split()) for sentence in sentences)
    if len(sentences) < MIN_SENTENCES or words < MIN_ARTICLE_WORDS:
        return (
            f"article too short to summarise ({len(sentences)} sentences, {words} words; "
            f"a summary needs {MIN_SENTENCES} sentences and {MIN_ARTICLE_WORDS} words)"
        )
    return None


def summarise(
    sentences: Sequence[str], *, title: str | None, language: str, size: int = MAX_SENTENCES
) -> list[str]:
    """Up to ``size`` whole sentences, in the article's order, of at most ``MAX_SHARE`` of the
    article's words together; none when the article is ``too_short``."""
    if too_short(sentences):
        return []
    sentences = _by_paragraph(sentences)
    budget = int(MAX_SHARE * sum(len(sentence.split()) for sentence in sentences))
    stops = stop_words(language)
    tokenised = [_words(sentence, stops) for sentence in sentences]
    frequencies = Counter(word for words in tokenised for word in words)
    if not frequencies:
        return []
    top = max(frequencies.values())
    weight = {word: count / top for word, count in frequencies.items()}
    for word in _words(title or "", stops):
        weight[word] = weight.get(word, 0.0) + 0.5  # the headline names the subject
    scored: list[tuple[float, int]] = []
    outside = _outside_quotations(sentences)
    for index, (sentence, words) in enumerate(zip(sentences, tokenised, strict=True)):
        count = len(sentence.split())
        if not words or not _MIN_WORDS <= count <= _MAX_WORDS or not outside[index]:
            continue
        score = sum(weight[word] for word in words) / math.sqrt(len(words))
        score *= 1 + (_LEAD_BONUS[index] if index < len(_LEAD_BONUS) else 0.0)
        scored.append((score, index))
    word_sets = [set(words) for words in tokenised]
    chosen: list[int] = []
    used = 0
    for _score, index in sorted(scored, reverse=True):
        count = len(sentences[index].split())
        if used + count > budget:
            continue
        if all(_overlap(word_sets[index], word_sets[other]) < _MAX_OVERLAP for other in chosen):
            chosen.append(index)
            used += count
        if len(chosen) == size:
            break
    return [sentences[index] for index in sorted(chosen)]
