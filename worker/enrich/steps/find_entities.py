"""People, organisations and geocoded places named in the story (worker.enrich.entities).

Names are merged across articles later, in worker/pipeline.py (worker.enrich.names): that
rewrites ``people`` and adds ``entity_mentions.people[].merged``, both declared here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from worker.enrich.entities import english_words as load_english_words
from worker.enrich.entities import extract_entities
from worker.enrich.step import Document, Step, skipped

# Entity names: exact values for facets, analysed text for search.
ENTITY_NAME = {"type": "keyword", "ignore_above": 300, "fields": {"text": {"type": "text"}}}


def find_entities(doc: Mapping[str, Any]) -> Document:
    parsed = doc.get("_parsed")
    if parsed is None:
        return skipped(f"no entity recogniser for language {doc['language']}")
    return extract_entities(parsed, dateline_place=(doc.get("dateline") or {}).get("place"))


def _load_lexicon() -> None:
    load_english_words()  # the entity step's lexicon (about 30 ms)


STEP = Step(
    "find_entities",
    find_entities,
    properties={
        "people": ENTITY_NAME,
        "organisations": ENTITY_NAME,
        "places": {
            "properties": {
                "name": ENTITY_NAME,
                "country": {"type": "keyword"},
                "country_code": {"type": "keyword"},
                "kind": {"type": "keyword"},
                "location": {"type": "geo_point"},
                "geonameid": {"type": "keyword"},
                "mentions": {"type": "integer"},
                "mentioned_as": {"type": "keyword", "ignore_above": 200},
            }
        },
        # Place names the gazetteer could not resolve, kept for review, not for facets.
        "unresolved_places": {
            "properties": {
                "name": {"type": "keyword", "ignore_above": 200},
                "mentions": {"type": "integer"},
            }
        },
        # mentioned_as: the forms as written ("Arafat", "Abdel Aziz"); merged: why a short form
        # became a name known from other articles (worker/enrich/names.py), kept as evidence.
        "entity_mentions": {
            "properties": {
                kind: {
                    "properties": {
                        "name": ENTITY_NAME,
                        "mentions": {"type": "integer"},
                        "mentioned_as": {"type": "keyword", "ignore_above": 200},
                        "merged": {"type": "keyword", "index": False, "doc_values": False},
                    }
                }
                for kind in ("people", "organisations")
            }
        },
    },
    warm_up=_load_lexicon,
)
