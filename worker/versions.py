"""Which version of an article wins, and its revision number.

Ordering: every document is indexed with Elasticsearch's external versioning, the version
being when ingest accepted it (microseconds since the epoch: ``shared.article.external_version``),
``version_type=external_gte``. A replayed task (same payload, same version) rewrites the same
document: idempotent. An older payload arriving after a newer one (a retry overtaken by a
correction) is refused by Elasticsearch with 409 and counted as superseded, never written over
the newer text.

Revision: a corrected article (same id, different content) gets ``revision`` + 1, so readers
can tell it changed; a replay of the same content keeps its revision. The previous revision is
read from the index just before the bulk. Two workers holding two corrections of one article at
the same instant may give both the same number; the newer text still wins through the version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from elasticsearch import Elasticsearch

from shared.article import CONTENT_FIELDS, ORIGINAL_FIELDS
from shared.document import EnrichedDocument


def original_fields(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {
        field: payload.get(field)
        for field in ORIGINAL_FIELDS
        if payload.get(field) not in (None, [], {})
    }


def content_hash(payload: Mapping[str, Any]) -> str:
    content = {field: payload.get(field) for field in CONTENT_FIELDS}
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def next_revision(new_hash: str, previous: Mapping[str, Any] | None) -> int:
    """1 for a new article, the same for identical content, else the previous one + 1."""
    if not previous:
        return 1
    revision = int(previous.get("revision") or 1)
    return revision if previous.get("content_hash") == new_hash else revision + 1


def previous_versions(
    es: Elasticsearch, alias: str, ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The revision, content hash and story already indexed for these ids (absent ones left
    out)."""
    if not ids:
        return {}
    found = es.mget(
        index=alias, ids=list(ids), source_includes=["revision", "content_hash", "story.id"]
    )
    return {doc["_id"]: doc.get("_source") or {} for doc in found["docs"] if doc.get("found")}


def indexed_stories(previous: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Article id -> the ``story.id`` its indexed document carries (of ``previous_versions``)."""
    found: dict[str, str] = {}
    for article_id, source in previous.items():
        story = source.get("story")
        story_id = story.get("id") if isinstance(story, Mapping) else None
        if isinstance(story_id, str) and story_id:
            found[article_id] = story_id
    return found


def stamp_versions(
    docs: Sequence[EnrichedDocument],
    payloads: Mapping[str, Mapping[str, Any]],
    previous: Mapping[str, Mapping[str, Any]],
) -> None:
    """Set ``content_hash`` and ``revision`` on each enriched document, in place."""
    for doc in docs:
        digest = content_hash(payloads[doc["id"]])
        doc["content_hash"] = digest
        doc["revision"] = next_revision(digest, previous.get(doc["id"]))
