"""A first line that is clearly a headline becomes the title (worker.enrich.text)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from worker.enrich.dateline import parse_dateline
from worker.enrich.step import Document, Step
from worker.enrich.text import split_headline


def take_headline(doc: Mapping[str, Any]) -> Document:
    """A first line that is clearly a headline becomes the title and leaves the body; any other
    first line stays in the body (worker.enrich.text.split_headline states the rules)."""
    if doc.get("title"):
        return {}
    headline, rest = split_headline(doc["body"], _opens_with_dateline)
    return {"title": headline, "body": rest} if headline else {}


def _opens_with_dateline(line: str) -> bool:
    return parse_dateline(line) is not None


STEP = Step("take_headline", take_headline)
