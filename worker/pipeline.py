"""Enrich and index one batch of queued articles: the logic behind the Celery task."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import redis
from elasticsearch import Elasticsearch

from shared.index import ensure_index
from shared.settings import Settings
from shared.status import State, set_states
from worker.enrich import enrich_batch
from worker.enrich.duplicates import METHOD as NEAR_DUPLICATE_METHOD
from worker.enrich.duplicates import assign_clusters
from worker.indexing import BulkOutcome, bulk_index
from worker.versions import previous_versions, stamp_versions

log = logging.getLogger(__name__)


def process_batch(
    payloads: Sequence[dict[str, Any]],
    *,
    es: Elasticsearch,
    redis_client: redis.Redis,
    settings: Settings,
) -> BulkOutcome:
    """Enrich every payload, bulk-index the results, record each article's state.

    An article whose enrichment raises is marked failed on its own; the others go on.
    Elasticsearch or Redis being unreachable raises, so the task is retried as a whole
    (indexing by id makes the replay harmless).
    """
    enriched = enrich_batch(payloads)
    docs = enriched.documents
    # Near-duplicates need the index shared by every worker (in Redis), so this is the one
    # enrichment that is not a pure step; idempotent, so a retried batch is harmless.
    clusters = assign_clusters(
        [(doc["id"], doc["body"]) for doc in docs],
        redis_client=redis_client,
        prefix=settings.index_prefix,
        ttl_s=settings.status_ttl_s,
    )
    for doc in docs:
        doc["duplicates"] = clusters[doc["id"]].as_fields()
        doc["enrichment"]["models"]["near_duplicates"] = NEAR_DUPLICATE_METHOD
    alias = ensure_index(es, settings)
    by_id = {payload["id"]: payload for payload in payloads}
    stamp_versions(docs, by_id, previous_versions(es, alias, [doc["id"] for doc in docs]))
    outcome = bulk_index(es, alias, docs) if docs else BulkOutcome()
    outcome.failed |= enriched.failures
    # A superseded article is indexed too: in the newer version already there.
    states: list[tuple[str, State, str | None]] = [
        (i, "indexed", None) for i in [*outcome.indexed, *outcome.superseded]
    ]
    states += [(i, "failed", reason) for i, reason in outcome.failed.items()]
    set_states(redis_client, settings.index_prefix, states, settings.status_ttl_s)
    log.info("batch done", extra={"indexed": len(outcome.indexed), "failed": len(outcome.failed)})
    return outcome


def mark_failed(
    payloads: Sequence[dict[str, Any]],
    reason: str,
    *,
    redis_client: redis.Redis,
    settings: Settings,
) -> None:
    """Record that these articles gave up after every retry."""
    states: list[tuple[str, State, str | None]] = [(p["id"], "failed", reason) for p in payloads]
    set_states(redis_client, settings.index_prefix, states, settings.status_ttl_s)
