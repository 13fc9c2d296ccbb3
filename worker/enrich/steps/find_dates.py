"""Dates the story mentions, resolved against the article's own date (worker.enrich.dates)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from worker.enrich.dates import MAX_MENTIONS, resolve_mentions, unresolved_mentions
from worker.enrich.step import Document, Step, package_version, skipped, truncated

# dateparser costs 1 to 7 ms a mention (idle to loaded machine): an article naming more dates
# than this (a table of fixtures) has the rest left unread, and the cut recorded. It makes no
# difference when MAX_MENTIONS distinct dates are found before it, as they are in long stories.
MAX_DATE_MENTIONS = 500


def find_dates(doc: Mapping[str, Any]) -> Document:
    parsed = doc.get("_parsed")
    if parsed is None:
        return skipped(f"no date recogniser for language {doc['language']}")
    # Relative mentions ("on Tuesday", "last week") resolve against the article's own date,
    # never the day it reached us: an undated article lists only dates that carry their year.
    published = doc.get("published_at")
    reference = datetime.fromisoformat(published) if published else None
    mentions = [entity.text for entity in parsed.ents if entity.label_ == "DATE"]
    read = mentions[:MAX_DATE_MENTIONS]
    found = resolve_mentions(read, reference=reference, language=doc["language"])
    cut: Document = {}
    if len(mentions) > MAX_DATE_MENTIONS and len(found) < MAX_MENTIONS:  # else it made no odds
        cut = truncated(f"{MAX_DATE_MENTIONS} of {len(mentions)} date mentions read")
    unresolved = unresolved_mentions(read) if reference is None else []
    if unresolved:
        shown = ", ".join(f'"{text}"' for text in unresolved[:3])
        more = f" and {len(unresolved) - 3} more" if len(unresolved) > 3 else ""
        note = skipped(
            f"no publication date: {len(unresolved)} relative date mention(s) not resolved "
            f"({shown}{more})"
        )
        return {"dates_mentioned": found} | cut | note
    return {"dates_mentioned": found} | cut


STEP = Step(
    "find_dates",
    find_dates,
    properties={
        "dates_mentioned": {
            "properties": {
                "text": {"type": "keyword", "ignore_above": 100},
                "date": {"type": "date"},
                "resolution": {"type": "keyword"},
            }
        },
    },
    # The dateline's day (date_from_dateline) is read by the same dateparser.
    models={"dates": package_version("dateparser")},
)
