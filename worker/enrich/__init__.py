"""Enrichment: small pure steps over an article document, run in order.

Each step reads the document and returns only the fields it sets; ``enrich`` merges them.
Tests call the steps and ``enrich`` directly, without Celery.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from worker.enrich.dateline import parse_dateline, split_date_prefix
from worker.enrich.dates import resolve_day
from worker.enrich.language import detect_language
from worker.enrich.text import count_words, derive_title, split_headline

# Bump when any step's output changes, so re-enrichment can target documents made by older code.
ENRICHMENT_VERSION = "1"

Document = dict[str, Any]
Step = Callable[[Mapping[str, Any]], Document]


def base_document(payload: Mapping[str, Any]) -> Document:
    """The document as posted, before any step runs."""
    return {
        "id": payload["id"],
        "url": payload.get("url"),
        "source": payload.get("source"),
        "title": payload.get("title"),
        "body": payload["body"],
        "authors": list(payload.get("authors") or []),
        "language": payload.get("language"),
        "published_at": payload.get("published_at"),
        "published_at_source": "given" if payload.get("published_at") else None,
        "received_at": payload["received_at"],
        "content_type": payload.get("content_type"),
        "metadata": dict(payload.get("metadata") or {}),
    }


def strip_date_line(doc: Mapping[str, Any]) -> Document:
    """A leading ``date YYYY-MM-DD`` is metadata, not story: take it out of the body, and use it
    as the publication date when none was given."""
    day, rest = split_date_prefix(doc["body"])
    if day is None:
        return {}
    found: Document = {"body": rest}
    if not doc.get("published_at"):
        found |= {"published_at": day.isoformat(), "published_at_source": "date_line"}
    return found


def take_headline(doc: Mapping[str, Any]) -> Document:
    if doc.get("title"):
        return {}
    headline, rest = split_headline(doc["body"])
    return {"title": headline, "body": rest} if headline else {}


def find_dateline(doc: Mapping[str, Any]) -> Document:
    dateline = parse_dateline(doc["body"])
    if dateline is None:
        return {}
    fields: Document = {
        "raw": dateline.raw,
        "place": dateline.place,
        "region": dateline.region,
        "country": dateline.country,
        "country_code": dateline.country_code,
        "date_text": dateline.date_text,
        "agency": dateline.agency,
    }
    if dateline.latitude is not None and dateline.longitude is not None:
        fields["location"] = {"lat": dateline.latitude, "lon": dateline.longitude}
    return {"dateline": {key: value for key, value in fields.items() if value is not None}}


def identify_language(doc: Mapping[str, Any]) -> Document:
    if doc.get("language"):
        return {"language_detected": False}
    text = "\n".join(part for part in (doc.get("title"), doc["body"]) if part)
    return {"language": detect_language(text), "language_detected": True}


def date_from_dateline(doc: Mapping[str, Any]) -> Document:
    date_text = (doc.get("dateline") or {}).get("date_text")
    if doc.get("published_at") or not date_text:
        return {}
    reference = datetime.fromisoformat(doc["received_at"])
    day = resolve_day(date_text, reference=reference, language=doc.get("language"))
    if day is None:
        return {}
    return {"published_at": day.isoformat(), "published_at_source": "dateline"}


def derive_missing_title(doc: Mapping[str, Any]) -> Document:
    if doc.get("title"):
        return {}
    text = doc["body"].lstrip()
    raw_dateline = (doc.get("dateline") or {}).get("raw")
    if raw_dateline and text.startswith(raw_dateline):
        text = text[len(raw_dateline) :]
    title = derive_title(text)
    return {"title": title, "title_derived": True} if title else {}


def count_body_words(doc: Mapping[str, Any]) -> Document:
    return {"word_count": count_words(doc["body"])}


STEPS: tuple[Step, ...] = (
    strip_date_line,
    take_headline,
    find_dateline,
    identify_language,
    date_from_dateline,
    derive_missing_title,
    count_body_words,
)


def warm_up() -> None:
    """Load the language models and the gazetteer now, not on the first article."""
    detect_language("Warm-up text so that the language models load before the first article.")
    parse_dateline("BAKU, Azerbaijan, September 30. Warm-up.")


def enrich(payload: Mapping[str, Any], steps: tuple[Step, ...] = STEPS) -> Document:
    """The enriched document for one queued article payload."""
    doc = base_document(payload)
    for step in steps:
        doc.update(step(doc))
    doc["enrichment"] = {"version": ENRICHMENT_VERSION, "steps": [step.__name__ for step in steps]}
    return doc
