"""The story in an article document: the text after its dateline, and its sentences. Read by
the steps that summarise, score or title the story rather than the article's opening."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from worker.enrich.dateline import MAX_DATELINE_CHARS
from worker.enrich.summary import split_sentences


def without_dateline(doc: Mapping[str, Any], text: str) -> str:
    """``text`` with the article's dateline taken off its start: "BAKU, ..." is where, not what.
    Header lines the dateline parser read past ("By John Smith", "UPDATE 1-...") go with it."""
    raw = (doc.get("dateline") or {}).get("raw")
    stripped = text.lstrip()
    if not raw:
        return text
    if stripped.startswith(raw):
        return stripped[len(raw) :].lstrip()
    at = stripped.find(raw, 0, MAX_DATELINE_CHARS + len(raw))
    if at > 0 and stripped[at - 1] == "\n":  # the dateline opens a line of the opening
        return stripped[at + len(raw) :].lstrip()
    return text


def sentences(doc: Mapping[str, Any]) -> list[str]:
    """The body's sentences: spaCy's where the article was parsed (parse_english)."""
    parsed = doc.get("_parsed")
    if parsed is not None:
        return [span.text.strip() for span in parsed.sents if span.text.strip()]
    return split_sentences(doc["body"])


def story_sentences(doc: Mapping[str, Any]) -> list[str]:
    """Sentences with the dateline taken off the first one."""
    found = sentences(doc)
    if found:
        found[0] = without_dateline(doc, found[0])
    return [sentence for sentence in found if sentence]
