"""Tone of an article with VADER (English only: its lexicon is English)."""

from __future__ import annotations

from functools import lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

SUPPORTED_LANGUAGES = frozenset({"en"})
# VADER's cost is linear in length; the tone of a story is set well within its first part.
_SAMPLE_CHARS = 4_000
# VADER's own thresholds for its compound score.
_POSITIVE, _NEGATIVE = 0.05, -0.05


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def score_tone(sentences: list[str]) -> dict[str, float | str]:
    """Mean compound score over the sentences (-1 very negative … +1 very positive), a label, and
    the shares of positive and negative sentences. Scoring sentence by sentence keeps one long
    article from saturating at ±1, as VADER's compound does over whole texts."""
    analyzer = _analyzer()
    scores: list[float] = []
    used = 0
    for sentence in sentences:
        if used > _SAMPLE_CHARS:
            break
        used += len(sentence)
        scores.append(float(analyzer.polarity_scores(sentence)["compound"]))
    if not scores:
        return {"score": 0.0, "label": "neutral", "positive": 0.0, "negative": 0.0}
    mean = sum(scores) / len(scores)
    label = "positive" if mean >= _POSITIVE else "negative" if mean <= _NEGATIVE else "neutral"
    return {
        "score": round(mean, 4),
        "label": label,
        "positive": round(sum(s >= _POSITIVE for s in scores) / len(scores), 3),
        "negative": round(sum(s <= _NEGATIVE for s in scores) / len(scores), 3),
    }
