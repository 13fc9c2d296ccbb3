"""The story's tone (VADER, worker.enrich.sentiment)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from worker.enrich.sentiment import SUPPORTED_LANGUAGES as SENTIMENT_LANGUAGES
from worker.enrich.sentiment import score_tone
from worker.enrich.step import Document, Step, package_version, skipped
from worker.enrich.story import story_sentences


def score_sentiment(doc: Mapping[str, Any]) -> Document:
    if doc["language"] not in SENTIMENT_LANGUAGES:
        return skipped(f"no sentiment model for language {doc['language']}")
    return {"sentiment": score_tone(story_sentences(doc))}


STEP = Step(
    "score_sentiment",
    score_sentiment,
    properties={
        "sentiment": {
            "properties": {
                "score": {"type": "float"},
                "label": {"type": "keyword"},
                "positive": {"type": "float"},
                "negative": {"type": "float"},
            }
        },
    },
    models={"sentiment": package_version("vaderSentiment")},
)
