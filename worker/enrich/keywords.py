"""Keyphrases with YAKE, deduplicated."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from functools import lru_cache

import yake
from spacy.tokens import Doc

# YAKE's cost grows with text length (about 20 ms for 1,500 characters, 40 ms for 4,000 on
# one core); a news story states its subject in the headline and the lead, so that is what
# it reads.
LEAD_CHARS = 1_500
MAX_KEYWORDS = 10
# YAKE ships stop word lists for these (ISO 639-1); other languages use its generic list.
_YAKE_LANGUAGES = frozenset(
    [
        "ar",
        "bg",
        "br",
        "cz",
        "da",
        "de",
        "el",
        "en",
        "es",
        "et",
        "fa",
        "fi",
        "fr",
        "hi",
        "hr",
        "hu",
        "hy",
        "id",
        "it",
        "ja",
        "lt",
        "lv",
        "nl",
        "no",
        "pl",
        "pt",
        "ro",
        "ru",
        "sk",
        "sl",
        "sv",
        "tr",
        "uk",
        "zh",
    ]
)


@lru_cache(maxsize=32)
def _extractor(language: str) -> yake.KeywordExtractor:
    return yake.KeywordExtractor(
        lan=language if language in _YAKE_LANGUAGES else "en",
        n=3,
        dedupLim=0.7,
        top=MAX_KEYWORDS * 4,
    )


def _dedupe(phrases: list[str]) -> list[str]:
    """Case-insensitively unique, and no phrase kept whose words all stand inside a longer kept
    phrase ("Media Development" goes when "Media Development Agency" is there)."""
    kept: list[str] = []
    for phrase in sorted(dict.fromkeys(phrases), key=lambda p: -len(p.split())):
        words = phrase.casefold().split()
        if any(_contains(other.casefold().split(), words) for other in kept):
            continue
        kept.append(phrase)
    order = {phrase: index for index, phrase in enumerate(phrases)}
    return sorted(kept, key=order.__getitem__)


def _contains(longer: list[str], shorter: list[str]) -> bool:
    size = len(shorter)
    return any(longer[i : i + size] == shorter for i in range(len(longer) - size + 1))


# Entity labels that name amounts and times, not topics ("September", "2,400").
_NOT_TOPICS = frozenset({"DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL"})


def _entity_filter(parsed: Doc) -> Callable[[str], bool]:
    """Whether a YAKE candidate respects the article's named entities: it touches none, or lies
    wholly inside one. YAKE's n-grams otherwise run names into their neighbours ("Dilshod
    Saidzhanov told", "Uzbekistan Dilshod Saidzhanov")."""
    entity_of: dict[str, set[int]] = defaultdict(set)
    numeric: set[str] = set()
    for number, entity in enumerate(parsed.ents):
        for token in entity:
            entity_of[token.lower_].add(number)
            if entity.label_ in _NOT_TOPICS:
                numeric.add(token.lower_)
    text = parsed.text.casefold()

    def keep(phrase: str) -> bool:
        words = phrase.casefold().split()
        if any(word in numeric for word in words):
            return False
        inside = [entity_of.get(word, set()) for word in words]
        if not any(inside):
            # A lone common word must recur to be a topic, not a headline's verb.
            return len(words) > 1 or len(re.findall(rf"\b{re.escape(words[0])}\b", text)) >= 3
        return all(inside) and bool(set.intersection(*inside))

    return keep


def extract_keywords(
    title: str | None, text: str, language: str, parsed: Doc | None = None
) -> list[str]:
    """Up to ``MAX_KEYWORDS`` keyphrases; with spaCy's entities for ``text``, none that cuts
    across a name."""
    lead = f"{title}.\n{text[:LEAD_CHARS]}" if title else text[:LEAD_CHARS]
    scored = _extractor(language).extract_keywords(lead)
    phrases = [phrase.strip() for phrase, _score in scored if len(phrase.strip()) > 2]
    if parsed is not None:
        phrases = list(filter(_entity_filter(parsed), phrases))
    seen: set[str] = set()
    unique = []
    for phrase in phrases:
        if phrase.casefold() not in seen:
            seen.add(phrase.casefold())
            unique.append(phrase)
    return _dedupe(unique)[:MAX_KEYWORDS]
