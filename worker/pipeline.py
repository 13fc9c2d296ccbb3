"""Enrich and index one batch of queued articles: the logic behind the Celery task."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis
from elasticsearch import Elasticsearch

from shared.article import ArticlePayload
from shared.deadletters import add_dead_letters
from shared.index import BulkOutcome, bulk_index, write_targets
from shared.metrics import commit_quietly
from shared.settings import Settings
from shared.status import State, set_states
from shared.takedown import purge, taken_down_ids
from worker.batch_metrics import batch_recorder, gave_up_recorder
from worker.enrich import OnStep, enrich_batch
from worker.enrich.duplicates import METHOD as NEAR_DUPLICATE_METHOD
from worker.enrich.duplicates import assign_clusters
from worker.enrich.names import merge_names
from worker.enrich.registry import article_mappings
from worker.stories import assign_stories, restamp_merged
from worker.versions import indexed_stories, original_fields, previous_versions, stamp_versions

log = logging.getLogger(__name__)


@dataclass
class BatchOutcome:
    """What became of each article of a batch."""

    indexed: list[str] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)  # a newer version is indexed
    dead_lettered: dict[str, str] = field(default_factory=dict)  # id -> last error
    # Payloads to try again later (their ``attempts`` counted), sent by the task.
    retry_later: list[ArticlePayload] = field(default_factory=list)


def process_batch(
    payloads: Sequence[ArticlePayload],
    *,
    es: Elasticsearch,
    redis_client: redis.Redis,
    settings: Settings,
    on_step: OnStep | None = None,
) -> BatchOutcome:
    """Enrich every payload, bulk-index the results, record each article's state.

    An article whose enrichment raises, or that Elasticsearch refuses for now (429, 5xx), is
    returned in ``retry_later`` until it has had ``settings.article_max_attempts`` tries, then
    dead-lettered; a document refused for good (mapping error) or an article that overran its
    time budget (``settings.enrich_article_budget_s``) is dead-lettered at once. The others go
    on. Elasticsearch or Redis being unreachable raises, so the task is retried as a
    whole (indexing by id with external versions makes the replay harmless).
    """
    started = time.perf_counter()
    # Taken down (shared/takedown.py) while queued: never enriched, indexed or dead-lettered;
    # anything of theirs an earlier attempt of this task left (its status record, or writes it
    # made before failing) is removed.
    withdrawn = taken_down_ids(redis_client, settings, [p["id"] for p in payloads])
    if withdrawn:
        purge(es, redis_client, settings, sorted(withdrawn), refresh=False)
        log.info("taken down, skipped", extra={"articles": len(withdrawn)})
        payloads = [payload for payload in payloads if payload["id"] not in withdrawn]
    enriched = enrich_batch(payloads, budget_s=settings.enrich_article_budget_s, on_step=on_step)
    docs = enriched.documents
    note = on_step or (lambda _step: None)
    note("near_duplicates")
    # Near-duplicates need the index shared by every worker (in Redis), so this is the one
    # enrichment that is not a pure step; idempotent, so a retried batch is harmless.
    clusters = assign_clusters(
        [(doc["id"], doc["body"]) for doc in docs],
        redis_client=redis_client,
        prefix=settings.index_prefix,
        ttl_s=settings.near_duplicate_ttl_s,
    )
    for doc in docs:
        doc["duplicates"] = clusters[doc["id"]].as_fields()
        doc["enrichment"]["models"]["near_duplicates"] = NEAR_DUPLICATE_METHOD
    note("names")
    # A short form ("Arafat") becomes the one full name other articles give ("Yasser Arafat"):
    # that needs the names every worker has seen (in Redis), as near-duplicates do.
    merge_names(
        docs,
        redis_client=redis_client,
        prefix=settings.index_prefix,
        ttl_s=settings.name_index_ttl_s,
        min_articles=settings.name_merge_min_articles,
        max_per_key=settings.name_index_max_per_key,
    )
    note("stories")
    # The index exists (made on a first batch) before the live documents are read.
    targets = write_targets(
        es, settings, article_mappings(), rebuild=any(p.get("rebuild") for p in payloads)
    )
    # Revisions continue from the live index, also while a rebuild writes elsewhere; its story
    # is kept when the article's key in Redis has expired (re-enriching an old article).
    previous = previous_versions(es, settings.articles_write_alias, [doc["id"] for doc in docs])
    # Stories (issue 17) need the index every worker shares (in Redis), as near-duplicates do;
    # an article seen before keeps its story, so a retried batch is harmless.
    stories = assign_stories(
        docs, redis_client=redis_client, settings=settings, indexed=indexed_stories(previous)
    )
    by_id = {payload["id"]: payload for payload in payloads}
    for doc in docs:
        # What the client sent, verbatim: `newsroom reindex` re-enriches from it.
        doc["original"] = original_fields(by_id[doc["id"]])
    note("index")
    stamp_versions(docs, by_id, previous)
    bulk = (
        bulk_index(es, targets, docs, may_vanish={settings.articles_next_alias})
        if docs
        else BulkOutcome()
    )
    if stories.merges:
        # The articles already indexed of the stories this batch merged away.
        restamp_merged(es, targets, stories, settings=settings)

    outcome = BatchOutcome(indexed=bulk.indexed, superseded=bulk.superseded)
    letters: list[tuple[ArticlePayload, str, int]] = []
    for article_id, reason in (enriched.failures | bulk.retry).items():
        payload = by_id[article_id]
        attempts = int(payload.get("attempts") or 0) + 1
        if attempts >= settings.article_max_attempts or article_id in enriched.permanent:
            letters.append((payload, reason, attempts))
        else:
            outcome.retry_later.append(payload | {"attempts": attempts, "last_error": reason})
    for article_id, reason in bulk.failed.items():
        payload = by_id[article_id]
        letters.append((payload, reason, int(payload.get("attempts") or 0) + 1))
    # Stored before the states say so, and before the task is acknowledged.
    add_dead_letters(redis_client, settings.index_prefix, letters)
    outcome.dead_lettered = {payload["id"]: reason for payload, reason, _ in letters}

    # A superseded article is indexed too: in the newer version already there.
    states: list[tuple[str, State, str | None]] = [
        (i, "indexed", None) for i in [*outcome.indexed, *outcome.superseded]
    ]
    states += [
        (payload["id"], "failed", f"dead-lettered after {attempts} attempt(s): {reason}")
        for payload, reason, attempts in letters
    ]
    states += [
        (p["id"], "queued", f"retrying (attempt {p['attempts']} failed): {p['last_error']}")
        for p in outcome.retry_later
    ]
    set_states(redis_client, settings.index_prefix, states, settings.status_ttl_s)
    _drop_taken_down_meanwhile(
        outcome, payloads, es=es, redis_client=redis_client, settings=settings
    )
    recorder = batch_recorder(
        payloads,
        enriched=len(docs),
        enrichment_failures=enriched.failures,
        step_seconds=enriched.step_seconds,
        bulk_documents=len(docs),
        indexed=len(outcome.indexed),
        superseded=len(outcome.superseded),
        index_failures=bulk.retry | bulk.failed,
        dead_lettered=outcome.dead_lettered,
        retried=len(outcome.retry_later),
        seconds=time.perf_counter() - started,
    )
    commit_quietly(recorder, redis_client, settings.index_prefix)  # one round trip
    log.info(
        "batch done",
        extra={
            "indexed": len(outcome.indexed),
            "dead_lettered": len(outcome.dead_lettered),
            "retry_later": len(outcome.retry_later),
        },
    )
    return outcome


def _drop_taken_down_meanwhile(
    outcome: BatchOutcome,
    payloads: Sequence[ArticlePayload],
    *,
    es: Elasticsearch,
    redis_client: redis.Redis,
    settings: Settings,
) -> None:
    """Articles taken down while this batch was being enriched: what it wrote of them
    (documents, dead letters, states) is removed again, and they are neither retried nor
    alerted on. Checked after every write: a takedown recorded later removes those writes
    itself (shared/takedown.py), so none survives either order."""
    late = taken_down_ids(redis_client, settings, [p["id"] for p in payloads])
    if not late:
        return
    purge(es, redis_client, settings, sorted(late), refresh=False)
    outcome.indexed = [i for i in outcome.indexed if i not in late]
    outcome.superseded = [i for i in outcome.superseded if i not in late]
    outcome.dead_lettered = {i: e for i, e in outcome.dead_lettered.items() if i not in late}
    outcome.retry_later = [p for p in outcome.retry_later if p["id"] not in late]
    log.info("taken down while enriched, removed", extra={"articles": len(late)})


def dead_letter_batch(
    payloads: Sequence[ArticlePayload],
    reason: str,
    attempts: int,
    *,
    redis_client: redis.Redis,
    settings: Settings,
) -> None:
    """Keep a whole batch that gave up after every retry in the dead letters, and say so
    (not its taken-down articles)."""
    withdrawn = taken_down_ids(redis_client, settings, [p["id"] for p in payloads])
    payloads = [payload for payload in payloads if payload["id"] not in withdrawn]
    add_dead_letters(redis_client, settings.index_prefix, [(p, reason, attempts) for p in payloads])
    states: list[tuple[str, State, str | None]] = [
        (p["id"], "failed", f"dead-lettered after {attempts} attempt(s): {reason}")
        for p in payloads
    ]
    set_states(redis_client, settings.index_prefix, states, settings.status_ttl_s)
    commit_quietly(gave_up_recorder(payloads, reason), redis_client, settings.index_prefix)
