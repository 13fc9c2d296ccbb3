"""The dateline's day as the publication date when none was given (worker.enrich.dates)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from worker.enrich.dates import resolve_day
from worker.enrich.step import Document, Step


def date_from_dateline(doc: Mapping[str, Any]) -> Document:
    """The dateline's day as the publication date when none was given. A year written in the
    dateline is used; without one ("FEB 26") the year is inferred: the latest such day not after
    the article was received. Either way ``published_at_source`` says "dateline"."""
    date_text = (doc.get("dateline") or {}).get("date_text")
    if doc.get("published_at") or not date_text:
        return {}
    reference = datetime.fromisoformat(doc["received_at"])
    day = resolve_day(date_text, reference=reference, language=doc.get("language"))
    if day is None:
        return {}
    return {"published_at": day.isoformat(), "published_at_source": "dateline"}


STEP = Step("date_from_dateline", date_from_dateline)
