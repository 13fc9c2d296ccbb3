"""Quotations and who said them (worker.enrich.quotes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from worker.enrich.quotes import extract_quotes
from worker.enrich.step import Document, Step, skipped, truncated
from worker.enrich.steps.find_entities import ENTITY_NAME


def find_quotes(doc: Mapping[str, Any]) -> Document:
    parsed = doc.get("_parsed")
    if parsed is None:
        return skipped(f"no quote attribution for language {doc['language']}")
    # The part of the body that was parsed (the parse bounds it: see worker.enrich.nlp).
    body, end = doc["body"], doc["_parsed_chars"]
    cut = truncated(f"body cut at {end} of {len(body)} characters") if end < len(body) else {}
    return {"quotes": extract_quotes(body[:end], parsed, doc.get("people") or [])} | cut


STEP = Step(
    "find_quotes",
    find_quotes,
    properties={
        # Nested, so "a quote by X that says Y" matches within one quote, not across two.
        "quotes": {
            "type": "nested",
            "properties": {
                "text": {"type": "text"},
                "speaker": ENTITY_NAME,
                "speaker_mention": {"type": "keyword", "ignore_above": 200},
                "verb": {"type": "keyword"},
                "attribution": {"type": "keyword"},
                "start": {"type": "integer"},
                "end": {"type": "integer"},
                "paragraphs": {"type": "integer"},
                "part": {"type": "integer"},
                "parts": {"type": "integer"},
            },
        },
    },
)
