"""What one batch adds to the pipeline-wide metrics (shared/metrics.py): built here as a pure
function, written by ``worker.pipeline`` in one pipelined round trip."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared import metrics


def batch_recorder(
    payloads: Sequence[Mapping[str, Any]],
    *,
    enriched: int,
    enrichment_failures: Mapping[str, str],
    step_seconds: Mapping[str, float],
    bulk_documents: int,
    indexed: int,
    superseded: int,
    index_failures: Mapping[str, str],
    dead_lettered: Mapping[str, str],
    retried: int,
    seconds: float,
) -> metrics.Recorder:
    """The counts, timings and failed attempts of one processed batch.

    ``index_failures``: the articles Elasticsearch refused, for now or for good;
    ``dead_lettered``: those (of either kind) that will not be tried again."""
    titles = {p["id"]: p.get("title") for p in payloads}
    recorder = metrics.Recorder()
    recorder.inc(metrics.BATCHES)
    recorder.inc(metrics.ENRICHED, enriched)
    recorder.inc(metrics.INDEXED, indexed)
    recorder.inc(metrics.SUPERSEDED, superseded)
    recorder.inc(metrics.FAILED, len(enrichment_failures), stage="enrichment")
    recorder.inc(metrics.FAILED, len(index_failures), stage="indexing")
    recorder.inc(metrics.DEAD_LETTERED, len(dead_lettered))
    recorder.inc(metrics.QUEUED, retried, origin="retry")
    for step, spent in step_seconds.items():
        recorder.observe(metrics.STEP_SECONDS, spent, step=step)
    if bulk_documents:
        recorder.observe(metrics.BULK_DOCUMENTS, bulk_documents)
    recorder.observe(metrics.BATCH_SECONDS, seconds)
    for stage, failures in (("enrichment", enrichment_failures), ("indexing", index_failures)):
        for article_id, reason in failures.items():
            recorder.failure(
                article_id,
                reason,
                stage=stage,
                final=article_id in dead_lettered,
                title=titles.get(article_id),
            )
    return recorder


def gave_up_recorder(payloads: Sequence[Mapping[str, Any]], reason: str) -> metrics.Recorder:
    """A whole batch dead-lettered after its last retry (Elasticsearch or Redis stayed away)."""
    recorder = metrics.Recorder().inc(metrics.DEAD_LETTERED, len(payloads))
    for payload in payloads:
        recorder.failure(
            payload["id"], reason, stage="batch", final=True, title=payload.get("title")
        )
    return recorder
