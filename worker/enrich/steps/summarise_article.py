"""A summary of whole sentences (worker.enrich.summary)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from worker.enrich.step import Document, Step, skipped
from worker.enrich.story import story_sentences
from worker.enrich.summary import summarise
from worker.enrich.summary import too_short as summary_too_short


def summarise_article(doc: Mapping[str, Any]) -> Document:
    """Whole sentences, at most three and a third of the article's words (worker.enrich.summary);
    none for an article too short to reduce, with the reason in ``enrichment.skipped``."""
    sentences = story_sentences(doc)
    reason = summary_too_short(sentences)
    if reason:
        return skipped(reason)
    summary = summarise(sentences, title=doc.get("title"), language=doc["language"])
    if not summary:
        return skipped("no sentence fits a third of the article")
    return {"summary": " ".join(summary)}


STEP = Step("summarise_article", summarise_article, properties={"summary": {"type": "text"}})
