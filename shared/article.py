"""The article as it travels from ingest to the worker: its id, its payload, its version.

``ArticlePayload`` is what ingest makes of a posted article (``shared.schema.to_payload``), what
a rebuild or a dead-letter replay queues again, and what a ``newsroom.process_articles`` task
receives, a batch of them. The enriched document written to the index is another type.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, NotRequired, TypedDict

# Every article id: the first 32 hex digits of a SHA-256 (shared.schema.article_id). In this
# form (anchored, no flags) it is also a JSON Schema ``pattern`` for the OpenAPI documents.
ARTICLE_ID_PATTERN = r"^[0-9a-f]{32}$"
_ARTICLE_ID = re.compile(ARTICLE_ID_PATTERN)


def is_article_id(value: str) -> bool:
    """Whether ``value`` can name an article (anything else names none: refuse it early)."""
    return _ARTICLE_ID.fullmatch(value) is not None


class ArticlePayload(TypedDict):
    """One accepted article, JSON-safe: everything needed to enrich and index it. A
    ``newsroom.process_articles`` task receives a list of them."""

    id: str
    received_at: str  # ISO 8601, UTC: when ingest accepted it (the external version)
    content_type: str | None  # the media type it was posted as
    title: str | None
    body: str | None  # plain text; ``html`` instead (or beside) it
    html: str | None  # a whole page, whose main text the worker extracts
    url: str | None
    source: str | None
    published_at: str | None  # ISO 8601, UTC
    authors: list[str]
    language: str | None
    metadata: dict[str, Any]
    # Set by the worker on a payload it sends again after a failed attempt (0 on a replay).
    attempts: NotRequired[int]
    last_error: NotRequired[str]
    # Queued by an index rebuild (shared/index/rebuild.py): enriched again, not news.
    rebuild: NotRequired[bool]


# What a client sent; a change in any of these is a correction (worker/versions.py).
CONTENT_FIELDS = (
    "title",
    "body",
    "html",
    "url",
    "source",
    "published_at",
    "authors",
    "language",
    "metadata",
)

# The payload as the client sent it, plus when and how: kept in the document's unindexed
# ``original`` so an index can be rebuilt by enriching again.
ORIGINAL_FIELDS = (*CONTENT_FIELDS, "content_type", "received_at")


def external_version(received_at: str) -> int:
    """The external version of a payload: when ingest accepted it, in microseconds."""
    moment = datetime.fromisoformat(received_at)
    return int(moment.timestamp() * 1_000_000)
