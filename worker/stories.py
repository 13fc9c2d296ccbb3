"""Stories at index time (issue 17): after near-duplicates and name merging, every article of a
batch joins a story or starts one (shared/stories_assign.py: the assigner, shared with
``newsroom stories rebuild``), and carries ``story`` and ``seen_at``. Stories merged by the
batch have their articles already indexed re-stamped with the survivor's id."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import redis
from elasticsearch import Elasticsearch

from shared.document import EnrichedDocument
from shared.settings import Settings
from shared.stories_assign import BatchStories, StoryParams, assign, restamp, seen_at

# The mapping fragment (worker/enrich/registry.py composes it with the steps' fragments).
PROPERTIES: dict[str, Any] = {
    "story": {
        "properties": {
            "id": {"type": "keyword"},
            "similarity": {"type": "float"},
        }
    },
    "seen_at": {"type": "date"},
}


def assign_stories(
    docs: Sequence[EnrichedDocument],
    *,
    redis_client: redis.Redis,
    settings: Settings,
    now: datetime | None = None,
    indexed: Mapping[str, str] | None = None,
) -> BatchStories:
    """Write ``story`` and ``seen_at`` into every document (idempotent on replay).
    ``indexed``: the story each article's indexed document carries (kept when its key in
    Redis has expired)."""
    now = now or datetime.now(UTC)
    result = assign(
        docs,
        redis_client=redis_client,
        prefix=settings.index_prefix,
        params=StoryParams.from_settings(settings),
        now=now,
        indexed=indexed,
    )
    for doc in docs:
        doc["story"] = result.assignments[doc["id"]].as_fields()
        doc["seen_at"] = seen_at(doc, now).isoformat()
    return result


def restamp_merged(
    es: Elasticsearch, targets: Sequence[str], result: BatchStories, *, settings: Settings
) -> int:
    """Re-stamp the indexed articles of the stories this batch merged away; how many."""
    if not result.merges:
        return 0
    # Articles indexed in the last second (a batch just before) are searchable only then;
    # each target is re-stamped from its own documents.
    es.indices.refresh(index=",".join(targets), ignore_unavailable=True)
    return sum(
        restamp(
            es,
            settings,
            targets,
            loser,
            survivor,
            limit=settings.story_restamp_limit,
        )
        for loser, survivor in sorted(result.merges.items())
    )
