"""A leading ``date YYYY-MM-DD`` line taken out of the body (worker.enrich.dateline)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from worker.enrich.dateline import split_date_prefix
from worker.enrich.step import Document, Step


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


STEP = Step("strip_date_line", strip_date_line)
