"""Keyphrases: YAKE proposes, spaCy's tagger and entities on the lead decide
(worker.enrich.keywords)."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

from worker.enrich.keywords import extract_keywords
from worker.enrich.language import UNDETERMINED
from worker.enrich.nlp import NLP_MODEL
from worker.enrich.step import Document, Step, skipped
from worker.enrich.story import without_dateline


def find_keywords(doc: Mapping[str, Any]) -> Document:
    if doc.get("language") == UNDETERMINED:
        return skipped("language undetermined")
    body = doc["body"]
    start = len(body) - len(without_dateline(doc, body))  # the story starts after the dateline
    # A title derived from the body's first sentence is no headline: the body holds its words.
    title = None if doc.get("title_derived") else doc.get("title")
    keywords = extract_keywords(title, body, doc["language"], doc.get("_parsed"), start)
    return {"keywords": keywords}


def _keyphrase_models() -> str:
    return f"yake {version('yake')} + {NLP_MODEL} tagger"


STEP = Step(
    "find_keywords",
    find_keywords,
    properties={
        "keywords": {"type": "keyword", "ignore_above": 200, "fields": {"text": {"type": "text"}}},
    },
    models={"keywords": _keyphrase_models},
)
