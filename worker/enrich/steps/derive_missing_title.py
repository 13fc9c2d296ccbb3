"""A title from the story's first sentence when the article has none (worker.enrich.text)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from worker.enrich.step import Document, Step
from worker.enrich.story import without_dateline
from worker.enrich.text import derive_title


def derive_missing_title(doc: Mapping[str, Any]) -> Document:
    if doc.get("title"):
        return {}
    title = derive_title(without_dateline(doc, doc["body"]))
    return {"title": title, "title_derived": True} if title else {}


STEP = Step(
    "derive_missing_title",
    derive_missing_title,
    properties={"title_derived": {"type": "boolean"}},
)
