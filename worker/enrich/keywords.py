"""Keyphrases with YAKE, deduplicated."""

from __future__ import annotations

from functools import lru_cache

import yake

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
        top=MAX_KEYWORDS * 2,
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


def extract_keywords(title: str | None, text: str, language: str) -> list[str]:
    lead = f"{title}.\n{text[:LEAD_CHARS]}" if title else text[:LEAD_CHARS]
    scored = _extractor(language).extract_keywords(lead)
    phrases = [phrase.strip() for phrase, _score in scored if len(phrase.strip()) > 2]
    seen: set[str] = set()
    unique = []
    for phrase in phrases:
        if phrase.casefold() not in seen:
            seen.add(phrase.casefold())
            unique.append(phrase)
    return _dedupe(unique)[:MAX_KEYWORDS]
