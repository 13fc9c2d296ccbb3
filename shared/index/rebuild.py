"""Zero-downtime re-enrichment: build a new index beside the live one, then switch the aliases.

Without Elasticsearch's reindex module (not in the core distribution) the copy is client-side:

1. Create ``<prefix>-articles-v<N>-<build>`` by name, so its mapping and settings come from
   the index template that the workers of ``INDEX_VERSION`` published (this code holds no
   mapping: the worker owns it; with no template, refuse), reached as the rebuild alias
   ``<prefix>-articles-next``. From then on every worker batch is written to the live index
   *and* the new one (``shared.index.write_targets``), so nothing posted meanwhile is missing
   from it. The live index may be of an older version, its mapping conflicting with the new.
2. Walk the live index (point in time + ``search_after``): articles to re-enrich (all, or with
   ``--only-outdated`` those enriched by another version than the template's) go through the
   normal queue (the bulk queue) from their stored original text; the others are copied as
   they are.
3. Wait until every queued one is indexed or failed; then copy what live batches wrote to the
   old index alone while the rebuild alias was being created (``indexed_at`` since the start).
4. Move the read and write aliases to the new index and drop the rebuild alias, in one atomic
   ``_aliases`` call: searches never see a missing or half-built index.

Every write uses the article's external version (when ingest accepted it), so the passes, the
live dual writes and any replay can overlap in any order and the newest text still wins.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from celery import Celery
from elasticsearch import Elasticsearch

from shared.article import ORIGINAL_FIELDS
from shared.index.bulk import bulk_index
from shared.index.lifecycle import index_behind, index_name, template_meta
from shared.index.mapping import INDEX_VERSION
from shared.settings import Settings
from shared.status import get_states
from shared.takedown import purge_index
from shared.tasks import enqueue_payloads

PAGE_SIZE = 500
# Live batches resolve their targets just before their bulk: one that did so before the
# rebuild alias existed wrote only to the old index, at most this long before it was created.
CATCH_UP_MARGIN = timedelta(minutes=5)
POLL_S = 0.5


class RebuildError(Exception):
    """The rebuild cannot start or finish; the live index is untouched."""


@dataclass
class RebuildReport:
    old_index: str
    new_index: str
    reenriched: int = 0
    copied: int = 0
    caught_up: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # article id -> why
    seconds: float = 0.0


Progress = Callable[[str, int, int | None], None]  # phase, done so far, total if known


def _quiet(_phase: str, _done: int, _total: int | None) -> None:
    pass


def iter_documents(
    es: Elasticsearch, index: str, *, since: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """Every document of ``index`` (or those indexed since ``since``), vectors included, in
    index order over a point in time: a consistent view however long the walk takes."""
    query: dict[str, Any] = (
        {"range": {"indexed_at": {"gte": since.isoformat()}}} if since else {"match_all": {}}
    )
    pit = es.open_point_in_time(index=index, keep_alive="5m")["id"]
    after: list[Any] | None = None
    try:
        while True:
            page = es.search(
                pit={"id": pit, "keep_alive": "5m"},
                query=query,
                size=PAGE_SIZE,
                sort=["_shard_doc"],
                search_after=after,
                # ES 9 leaves dense vectors out of _source unless asked: a copy needs them.
                source={"exclude_vectors": False},
                track_total_hits=False,
            )
            hits = page["hits"]["hits"]
            if not hits:
                return
            pit = page.get("pit_id", pit)
            for hit in hits:
                yield {"_id": hit["_id"], **hit["_source"]}
            after = hits[-1]["sort"]
    finally:
        es.options(ignore_status=404).close_point_in_time(id=pit)


def payload_from_document(doc: dict[str, Any]) -> dict[str, Any]:
    """The queued payload that produced ``doc``, from its stored original; documents indexed
    before the original was stored whole are rebuilt from the fields the client could set."""
    original = dict(doc.get("original") or {})
    if "received_at" not in original:  # an older document: what the client sent, as stored
        original = {
            "html": original.get("html"),
            "body": None if original.get("html") else doc.get("body"),
            "title": None if doc.get("title_derived") else doc.get("title"),
            "url": doc.get("url"),
            "source": doc.get("source"),
            "published_at": (
                doc.get("published_at") if doc.get("published_at_source") == "given" else None
            ),
            "authors": doc.get("authors") or [],
            "language": None if doc.get("language_detected") else doc.get("language"),
            "metadata": doc.get("metadata") or {},
            "content_type": doc.get("content_type"),
            "received_at": doc["received_at"],
        }
    return {
        "id": doc["_id"],
        **{key: original.get(key) for key in ORIGINAL_FIELDS},
        "authors": original.get("authors") or [],
        "metadata": original.get("metadata") or {},
        "rebuild": True,
    }


def _indexed_at(doc: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(doc["indexed_at"]))


def needs_enrichment(
    doc: dict[str, Any], *, only_outdated: bool, enrichment_version: str | None
) -> bool:
    """Whether ``doc`` goes through enrichment again: always, or with ``only_outdated`` when
    another enrichment version than ``enrichment_version`` (the workers') made it."""
    version = (doc.get("enrichment") or {}).get("version")
    return not only_outdated or version != enrichment_version


def copy_documents(
    es: Elasticsearch, target: str, docs: Sequence[dict[str, Any]]
) -> dict[str, str]:
    """Write enriched documents as they are, through the alias ``target``; return the ids
    refused (other than for a newer version already there) and why."""
    outcome = bulk_index(
        es, target, [{k: v for k, v in doc.items() if k != "_id"} for doc in docs], stamp=False
    )
    return {
        article_id: f"copy refused: {reason}"
        for article_id, reason in (outcome.failed | outcome.retry).items()
    }


def workers_enrichment_version(es: Elasticsearch, settings: Settings) -> str:
    """The enrichment version of the workers of this ``INDEX_VERSION``, from the index
    template they published."""
    meta = _template_meta_or_refuse(es, settings)
    version = meta.get("enrichment_version")
    if not version:
        raise RebuildError(
            f"the index template {index_name(settings)} does not say its enrichment version: "
            "restart a worker of this version, then run the command again"
        )
    return str(version)


def _template_meta_or_refuse(es: Elasticsearch, settings: Settings) -> dict[str, Any]:
    meta = template_meta(es, settings)
    if meta is None:
        raise RebuildError(
            f"no index template {index_name(settings)}: the mapping of index version "
            f"{INDEX_VERSION} comes from its workers; start a worker of this version first "
            "(it publishes the template), then run the command again"
        )
    return meta


def start_rebuild(es: Elasticsearch, settings: Settings, build: str) -> tuple[str, str]:
    """Create the new index behind the rebuild alias, from the workers' index template of
    this ``INDEX_VERSION``; return (live index, new index)."""
    _template_meta_or_refuse(es, settings)
    if index_behind(es, settings.articles_next_alias):
        raise RebuildError(
            f"a rebuild is already running ({settings.articles_next_alias} exists); "
            "wait for it, or end it with `newsroom reindex --abort`"
        )
    old = index_behind(es, settings.articles_write_alias)
    if old is None:
        raise RebuildError(f"no index behind {settings.articles_write_alias}")
    new = index_name(settings, build=build)
    # No mapping given: the template's applies (its name pattern matches ``new``).
    es.indices.create(index=new, aliases={settings.articles_next_alias: {"is_write_index": True}})
    made_for = es.indices.get_mapping(index=new)[new]["mappings"].get("_meta", {})
    if made_for.get("index_version") != INDEX_VERSION:
        es.indices.delete(index=new)
        raise RebuildError(
            f"{new} did not get the mapping of index version {INDEX_VERSION} from the template "
            f"{index_name(settings)} (its _meta: {made_for}); nothing was changed"
        )
    return old, new


def abort_rebuild(es: Elasticsearch, settings: Settings) -> str | None:
    """Drop the rebuild alias and its index; the live index is untouched."""
    new = index_behind(es, settings.articles_next_alias)
    if new is None:
        return None
    live = {
        index_behind(es, settings.articles_alias),
        index_behind(es, settings.articles_write_alias),
    }
    if new in live:
        raise RebuildError(f"{new} is live; not deleting it")
    es.indices.delete(index=new)
    return new


def switch_aliases(es: Elasticsearch, settings: Settings, old: str, new: str) -> None:
    read, write, building = (
        settings.articles_alias,
        settings.articles_write_alias,
        settings.articles_next_alias,
    )
    es.indices.update_aliases(
        actions=[
            {"remove": {"index": old, "alias": read}},
            {"remove": {"index": old, "alias": write}},
            {"remove": {"index": new, "alias": building}},
            {"add": {"index": new, "alias": read}},
            {"add": {"index": new, "alias": write, "is_write_index": True}},
        ]
    )


def wait_until_done(
    redis_client: redis.Redis,
    settings: Settings,
    ids: Sequence[str],
    *,
    timeout_s: float,
    progress: Progress,
) -> dict[str, str]:
    """Poll the articles' states until none is queued; return the failed ones and why."""
    pending = set(ids)
    failed: dict[str, str] = {}
    deadline = time.monotonic() + timeout_s
    while pending:
        ids_now = sorted(pending)
        states = get_states(redis_client, settings.index_prefix, ids_now)
        for article_id, state in zip(ids_now, states, strict=True):
            if state is None or state.get("state") == "indexed":
                # No record: it expired, and only happens for ids indexed long ago.
                pending.discard(article_id)
            elif state.get("state") == "failed":
                failed[article_id] = state.get("error", "")
                pending.discard(article_id)
        progress("re-enriching", len(ids) - len(pending), len(ids))
        if not pending:
            break
        if time.monotonic() > deadline:
            raise RebuildError(
                f"{len(pending)} articles still queued after {timeout_s:.0f} s; the new index "
                "is kept behind the rebuild alias: end it with `newsroom reindex --abort`, "
                "then run the command again"
            )
        time.sleep(POLL_S)
    return failed


def rebuild_index(
    *,
    es: Elasticsearch,
    redis_client: redis.Redis,
    celery_app: Celery,
    settings: Settings,
    only_outdated: bool = False,
    timeout_s: float = 24 * 3600,
    progress: Progress = _quiet,
) -> RebuildReport:
    started_wall = time.monotonic()
    started = datetime.now(UTC)
    enrichment_version = workers_enrichment_version(es, settings) if only_outdated else None
    old, new = start_rebuild(es, settings, started.strftime("%Y%m%d%H%M%S"))
    report = RebuildReport(old_index=old, new_index=new)
    building = settings.articles_next_alias
    es.indices.refresh(index=old)  # a point in time sees only what a refresh made visible
    queued: list[str] = []
    batch: list[dict[str, Any]] = []
    to_copy: list[dict[str, Any]] = []
    # Read by the first pass though indexed just before the start: the catch-up skips them.
    window_start = started - CATCH_UP_MARGIN
    seen_in_window: set[str] = set()

    def send(payloads: list[dict[str, Any]]) -> None:
        enqueue_payloads(
            payloads,
            celery_app=celery_app,
            redis_client=redis_client,
            settings=settings,
            queue=settings.bulk_queue_name,
        )
        queued.extend(p["id"] for p in payloads)

    for doc in iter_documents(es, old):
        if _indexed_at(doc) >= window_start:
            seen_in_window.add(doc["_id"])
        if needs_enrichment(
            doc, only_outdated=only_outdated, enrichment_version=enrichment_version
        ):
            batch.append(payload_from_document(doc))
            if len(batch) >= PAGE_SIZE:
                send(batch)
                batch = []
        else:
            to_copy.append(doc)
            if len(to_copy) >= PAGE_SIZE:
                report.failed |= copy_documents(es, building, to_copy)
                report.copied += len(to_copy)
                to_copy = []
        progress("reading", len(queued) + len(batch) + report.copied + len(to_copy), None)
    if batch:
        send(batch)
    if to_copy:
        report.failed |= copy_documents(es, building, to_copy)
        report.copied += len(to_copy)
    report.reenriched = len(queued)
    report.failed |= wait_until_done(
        redis_client, settings, queued, timeout_s=timeout_s, progress=progress
    )

    # What live batches wrote while the rebuild ran (also to the new index, unless they chose
    # their targets just before the rebuild alias existed): copied, newer versions winning.
    es.indices.refresh(index=old)
    late = [
        doc
        for doc in iter_documents(es, old, since=window_start)
        if doc["_id"] not in seen_in_window or _indexed_at(doc) >= started
    ]
    report.failed |= copy_documents(es, building, late)
    report.caught_up = len(late)
    # Taken down since the walk read them: they must not come back with the switch.
    purge_index(es, redis_client, settings, new)
    progress("switching", 1, 1)
    # Searches must find everything the moment they read the new index.
    es.indices.refresh(index=new)
    switch_aliases(es, settings, old, new)
    report.seconds = time.monotonic() - started_wall
    return report
