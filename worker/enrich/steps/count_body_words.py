"""Words in the body and the reading time they take."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from worker.enrich.step import Document, Step
from worker.enrich.text import count_words

WORDS_PER_MINUTE = 230


def count_body_words(doc: Mapping[str, Any]) -> Document:
    words = count_words(doc["body"])
    return {
        "word_count": words,
        "reading_time_minutes": max(1, math.ceil(words / WORDS_PER_MINUTE)),
    }


STEP = Step(
    "count_body_words",
    count_body_words,
    properties={
        "word_count": {"type": "integer"},
        "reading_time_minutes": {"type": "integer"},
    },
)
