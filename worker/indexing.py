"""Bulk indexing of enriched documents, checking every item of the response."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from elasticsearch import Elasticsearch
from elasticsearch.helpers import streaming_bulk

from worker.versions import external_version

# 429 (queue full) is retried by the helper with exponential backoff, this many times.
_BULK_RETRIES = 5


@dataclass
class BulkOutcome:
    indexed: list[str] = field(default_factory=list)
    # Refused for good (a mapping error, ...): retrying the same document cannot help.
    failed: dict[str, str] = field(default_factory=dict)
    # Refused for now (429 after the helper's own retries, 5xx): worth another attempt later.
    retry: dict[str, str] = field(default_factory=dict)
    # Refused because the index already holds a newer version of the article (409).
    superseded: list[str] = field(default_factory=list)


def _actions(alias: str, docs: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    indexed_at = datetime.now(UTC).isoformat()
    for doc in docs:
        yield {
            "_op_type": "index",
            "_index": alias,
            "_id": doc["id"],
            # Replays are idempotent and an older payload never overwrites a newer one
            # (worker/versions.py).
            "version": external_version(doc["received_at"]),
            "version_type": "external_gte",
            "_source": doc | {"indexed_at": indexed_at},
        }


def bulk_index(es: Elasticsearch, alias: str, docs: list[dict[str, Any]]) -> BulkOutcome:
    """Index ``docs`` through ``alias`` by id. Per-document rejections are returned in
    ``failed`` (permanent: mapping errors, ...) or ``retry`` (429, 5xx); connection errors
    propagate so the caller can retry the batch."""
    outcome = BulkOutcome()
    for ok, item in streaming_bulk(
        es,
        _actions(alias, docs),
        chunk_size=500,
        max_retries=_BULK_RETRIES,
        initial_backoff=1,
        raise_on_error=False,
        raise_on_exception=True,
        # Never let a missing alias auto-create an index with a guessed (dynamic) mapping.
        require_alias=True,
    ):
        result = item.get("index", {})
        doc_id = str(result.get("_id"))
        if ok:
            outcome.indexed.append(doc_id)
        elif result.get("status") == 409:
            outcome.superseded.append(doc_id)
        else:
            status = int(result.get("status") or 0)
            error = result.get("error")
            reason = error.get("reason") if isinstance(error, dict) else error
            refused = outcome.retry if status == 429 or status >= 500 else outcome.failed
            refused[doc_id] = f"{status}: {reason}"
    return outcome
