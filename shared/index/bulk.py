"""Bulk indexing of article documents, checking every item of the response: the worker's
batches and the copies a rebuild makes (shared/index/rebuild.py)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from elasticsearch import Elasticsearch
from elasticsearch.helpers import streaming_bulk

from shared.article import external_version

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


def _actions(
    targets: Sequence[str], docs: Iterable[Mapping[str, Any]], *, stamp: bool
) -> Iterator[dict[str, Any]]:
    indexed_at = datetime.now(UTC).isoformat()
    for doc in docs:
        source = {**doc, "indexed_at": indexed_at} if stamp else doc
        version = external_version(doc["received_at"])
        for target in targets:
            yield {
                "_op_type": "index",
                "_index": target,
                "_id": doc["id"],
                # Replays are idempotent and an older payload never overwrites a newer one
                # (worker/versions.py explains).
                "version": version,
                "version_type": "external_gte",
                "_source": source,
            }


def bulk_index(
    es: Elasticsearch,
    targets: str | Sequence[str],
    docs: Sequence[Mapping[str, Any]],
    *,
    may_vanish: Collection[str] = (),
    stamp: bool = True,
) -> BulkOutcome:
    """Index ``docs`` by id into every alias of ``targets`` (one ``_bulk``). A document counts
    as indexed when every target took it (or holds a newer version: ``superseded``); else it
    is in ``failed`` (permanent: mapping errors, ...) or ``retry`` (429, 5xx). Connection
    errors propagate so the caller can retry the batch.

    An alias of ``may_vanish`` missing is no refusal: the rebuild alias disappears when
    `newsroom reindex` switches (the write alias then reaches the new index) or is aborted.
    ``stamp``: set ``indexed_at`` to now (a copy keeps the one it has)."""
    targets = [targets] if isinstance(targets, str) else list(targets)
    # Each document's worst refusal: (permanent?, reason); a permanent one outranks the others.
    refusals: dict[str, tuple[bool, str]] = {}
    superseded: set[str] = set()
    for ok, item in streaming_bulk(
        es,
        _actions(targets, docs, stamp=stamp),
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
        status = int(result.get("status") or 0)
        if ok:
            continue
        if status == 409:
            superseded.add(doc_id)
            continue
        if status == 404 and result.get("_index") in may_vanish:
            continue
        error = result.get("error")
        reason = error.get("reason") if isinstance(error, dict) else error
        permanent = not (status == 429 or status >= 500)
        if doc_id not in refusals or (permanent and not refusals[doc_id][0]):
            refusals[doc_id] = (permanent, f"{status}: {reason}")
    outcome = BulkOutcome()
    for doc in docs:
        doc_id = doc["id"]
        if doc_id in refusals:
            permanent, reason = refusals[doc_id]
            (outcome.failed if permanent else outcome.retry)[doc_id] = reason
        elif doc_id in superseded:
            outcome.superseded.append(doc_id)
        else:
            outcome.indexed.append(doc_id)
    return outcome
