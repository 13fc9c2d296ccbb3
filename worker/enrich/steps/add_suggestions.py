"""Autocomplete inputs from the title and the named entities (worker.enrich.suggest)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.index import SUGGEST_MAX_INPUT_CHARS
from worker.enrich.step import Document, Step
from worker.enrich.suggest import suggestion_inputs


def add_suggestions(doc: Mapping[str, Any]) -> Document:
    """Enrichment step: the autocomplete inputs from the title and the named entities."""
    return {"suggest": suggestion_inputs(doc)}


STEP = Step(
    "add_suggestions",
    add_suggestions,
    properties={
        # Autocomplete over titles and entity names (worker/enrich/suggest.py fills it). The
        # standard analyzer keeps digits ("G7"), which the default "simple" one drops; the
        # "kind" context lets one request ask for titles, people, ... separately.
        "suggest": {
            "type": "completion",
            "analyzer": "standard",
            "max_input_length": SUGGEST_MAX_INPUT_CHARS,
            "contexts": [{"name": "kind", "type": "category"}],
        },
    },
)
