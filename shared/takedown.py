"""Takedowns: an admin removes an article (and, on request, its copies) with a reason; a re-post
of it is refused with that reason until an admin lifts the takedown.

Where an article lives, and what a takedown does there:

- the index: every index of the prefix (``<prefix>-articles-v<N>[-<build>]``: the live one,
  older ones a rebuild left behind, the one a running rebuild fills), deleted by id. The
  stored original (the document's unindexed ``original``) goes with its document;
- the dead letters (``shared/deadletters.py``: the whole payload), removed;
- the ingest status record (``<prefix>:article:<id>``), removed;
- the saved searches' matches (``<prefix>:saved:<id>:matches``, ``:articles``: its title,
  link and summary, shown on the saved search's page and feeds), removed;
- a task still queued, or a batch being enriched: the worker skips a taken-down id before
  enriching and, should the takedown land while it works, removes what it wrote after
  (``worker/pipeline.py`` calls ``taken_down_ids`` and ``purge``); a rebuild purges the index
  it built before switching to it (``shared/index/rebuild.py``).

"Copies" are the articles the near-duplicate stage put in its cluster
(``duplicates.cluster_id``, docs/NEAR_DUPLICATES.md) or that name it as their
``duplicate_of`` or among their ``near_duplicates``; each is taken down with its own record
(``copy_of`` says whose copy it is), so re-posting any of them is refused too.

The records live in Redis under the index prefix, beside the queue, the dead letters and the
accounts: Redis is the durable store every process already shares (append-only file,
``appendfsync everysec``, ``noeviction``), and the check sits on ingest's and the worker's paths,
which read Redis anyway (one ``HMGET`` per request or batch). Never expiring: a takedown holds
until it is lifted. Keys: ``<prefix>:takedown`` (hash: article id -> the record as JSON) and
``<prefix>:takedown:by-time`` (sorted set: id by when, for the newest-first list). Every
takedown and lift is written to the audit log (``shared/audit.py``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypedDict

import redis
from elasticsearch import ApiError, Elasticsearch, TransportError

from shared import audit
from shared.article import is_article_id
from shared.deadletters import remove_dead_letters
from shared.index.lifecycle import index_version
from shared.saved_searches import forget_matches
from shared.settings import Settings
from shared.status import delete_states
from shared.stories import forget_articles

log = logging.getLogger(__name__)

MAX_REASON_CHARS = 1000
# Copies taken down with one article, at most (a boilerplate text can gather thousands):
# the result says when more were left, and the command can be run again.
MAX_COPIES = 1000


class TakedownError(ValueError):
    """A refused takedown or lift; its message is safe to show to whoever asked."""


class Takedown(TypedDict):
    id: str
    reason: str
    actor: str  # who took it down: a user name, "cli:<unix user>"
    at: str  # ISO 8601, UTC
    copy_of: str | None  # taken down as a copy of this article
    cluster_id: str | None  # its near-duplicate cluster when it was indexed


@dataclass
class TakedownResult:
    takedown: Takedown
    copies: list[str] = field(default_factory=list)  # copies taken down with it
    copies_left: bool = False  # more than MAX_COPIES copies: run again for the rest
    documents_deleted: int = 0  # index documents deleted (every index of the prefix)
    dead_letters_removed: int = 0
    status_records_removed: int = 0
    saved_search_matches_removed: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "takedown": self.takedown,
            "copies": self.copies,
            "copies_left": self.copies_left,
            "documents_deleted": self.documents_deleted,
            "dead_letters_removed": self.dead_letters_removed,
            "status_records_removed": self.status_records_removed,
            "saved_search_matches_removed": self.saved_search_matches_removed,
        }


def _records_key(settings: Settings) -> str:
    return f"{settings.index_prefix}:takedown"


def _order_key(settings: Settings) -> str:
    return f"{settings.index_prefix}:takedown:by-time"


def _check_id(article_id: str) -> None:
    if not is_article_id(article_id):
        raise TakedownError("an article id is 32 lowercase hexadecimal characters")


def taken_down(r: redis.Redis, settings: Settings, ids: Sequence[str]) -> dict[str, Takedown]:
    """The takedowns of those of ``ids`` that are taken down (one round trip)."""
    if not ids:
        return {}
    raw: list[str | None] = r.hmget(_records_key(settings), list(ids))  # type: ignore[assignment]
    return {i: json.loads(item) for i, item in zip(ids, raw, strict=True) if item is not None}


def taken_down_ids(r: redis.Redis, settings: Settings, ids: Sequence[str]) -> set[str]:
    return set(taken_down(r, settings, ids))


def every_taken_down_id(r: redis.Redis, settings: Settings) -> list[str]:
    return sorted(r.hkeys(_records_key(settings)))  # type: ignore[arg-type]


def purge_index(es: Elasticsearch, r: redis.Redis, settings: Settings, index: str) -> int:
    """Delete every taken-down article from ``index`` (a rebuild's new index, before it goes
    live: its copy pass read the old index at a point in time, perhaps before a takedown)."""
    ids = every_taken_down_id(r, settings)
    return sum(
        delete_documents(es, [index], ids[start : start + 1000])
        for start in range(0, len(ids), 1000)
    )


def get(r: redis.Redis, settings: Settings, article_id: str) -> Takedown | None:
    return taken_down(r, settings, [article_id]).get(article_id)


def list_takedowns(
    r: redis.Redis, settings: Settings, *, offset: int = 0, limit: int = 200
) -> list[Takedown]:
    """Takedowns in force, newest first (``limit`` of them from ``offset``; at least one)."""
    offset, limit = max(offset, 0), max(limit, 1)
    ids: list[str] = r.zrevrange(_order_key(settings), offset, offset + limit - 1)  # type: ignore[assignment]
    found = taken_down(r, settings, ids)
    return [found[i] for i in ids if i in found]


def count_takedowns(r: redis.Redis, settings: Settings) -> int:
    return int(r.hlen(_records_key(settings)))


def refusal_message(record: Takedown) -> str:
    """What ingest and the article page say about a taken-down article."""
    return f"taken down on {record['at'][:10]} by an admin: {record['reason']}"


def article_indices(es: Elasticsearch, settings: Settings) -> list[str]:
    """Every open article index of the prefix: live, left by a rebuild, or being built (a
    closed one cannot be written: open it and take the article down again)."""
    found = es.indices.get_alias(
        index=f"{settings.index_prefix}-articles-v*", expand_wildcards="open"
    )
    return sorted(name for name in found.body if index_version(settings, name) is not None)


def delete_documents(
    es: Elasticsearch, indices: Iterable[str], ids: Sequence[str], *, refresh: bool = True
) -> int:
    """Delete ``ids`` from each of ``indices`` (absent ones are no error); return how many
    documents were deleted. Raises on any other refusal, so the caller can try again."""
    operations = [{"delete": {"_index": index, "_id": i}} for index in indices for i in ids]
    if not operations:
        return 0
    # wait_for: once this returns, searches no longer find them.
    reply = es.bulk(operations=operations, refresh="wait_for" if refresh else False)
    deleted = 0
    for item in reply["items"]:
        result = item["delete"]
        status = int(result.get("status") or 0)
        if status == 200:
            deleted += 1
        elif status != 404:
            raise RuntimeError(f"Elasticsearch refused to delete {result.get('_id')}: {result}")
    return deleted


class Removed(NamedTuple):
    documents: int
    dead_letters: int
    status_records: int
    saved_search_matches: int


def indexed_stories(es: Elasticsearch, settings: Settings, ids: Sequence[str]) -> dict[str, str]:
    """Article id -> the ``story.id`` its indexed document carries (those that have one), read
    in real time (a document indexed a moment ago is not searchable yet)."""
    found: dict[str, str] = {}
    for index in article_indices(es, settings):
        for start in range(0, len(ids), 1000):
            reply = es.options(ignore_status=404).mget(
                index=index, ids=list(ids[start : start + 1000]), source=["story.id"]
            )
            for doc in reply.get("docs", []):
                story = (doc.get("_source") or {}).get("story")
                story_id = story.get("id") if isinstance(story, dict) else None
                if isinstance(story_id, str) and story_id:
                    found.setdefault(str(doc["_id"]), story_id)
    return found


def purge(
    es: Elasticsearch,
    r: redis.Redis,
    settings: Settings,
    ids: Sequence[str],
    *,
    refresh: bool = True,
) -> Removed:
    """Remove ``ids`` from every article index, the dead letters, the status records and the
    saved searches' matches (their titles, links and summaries); return how many of each went.
    Idempotent. ``refresh``: wait until searches no longer find them (an admin's call; the
    worker does not wait)."""
    if not ids:
        return Removed(0, 0, 0, 0)
    # A story's title is never a taken-down article's (its story from the index too: the
    # article's own key in Redis may have expired while its story lives on).
    forget_articles(r, settings, ids, indexed_stories(es, settings, ids))
    return Removed(
        documents=delete_documents(es, article_indices(es, settings), ids, refresh=refresh),
        dead_letters=remove_dead_letters(r, settings.index_prefix, ids),
        status_records=delete_states(r, settings.index_prefix, ids),
        saved_search_matches=forget_matches(r, settings.index_prefix, ids),
    )


def _copies_of(
    es: Elasticsearch, settings: Settings, article_id: str, cluster_id: str | None
) -> tuple[list[str], bool]:
    """The indexed copies of an article (its cluster, or naming it), and whether more than
    ``MAX_COPIES`` were found."""
    should: list[dict[str, Any]] = [
        {"term": {"duplicates.cluster_id": article_id}},
        {"term": {"duplicates.duplicate_of": article_id}},
        {"term": {"duplicates.near_duplicates": article_id}},
    ]
    if cluster_id:
        should.append({"term": {"duplicates.cluster_id": cluster_id}})
    reply = es.options(ignore_status=404).search(
        index=settings.articles_alias,
        query={
            "bool": {
                "should": should,
                "minimum_should_match": 1,
                "must_not": [{"ids": {"values": [article_id]}}],
            }
        },
        size=MAX_COPIES + 1,
        source=False,
        sort=["_doc"],
    )
    hits = (reply.body.get("hits") or {}).get("hits") or []
    ids = [hit["_id"] for hit in hits]
    return ids[:MAX_COPIES], len(ids) > MAX_COPIES


def _cluster_of(es: Elasticsearch, settings: Settings, article_id: str) -> str | None:
    """Its near-duplicate cluster; None when it is not indexed, or Elasticsearch cannot say
    (the record goes in all the same: the removal then fails, and a second run finds it)."""
    try:
        found = es.options(ignore_status=404).get(
            index=settings.articles_alias, id=article_id, source_includes=["duplicates.cluster_id"]
        )
    except (TransportError, ApiError):
        log.warning("cluster of %s unknown", article_id, exc_info=True)
        return None
    if found.meta.status == 404 or not found.body.get("found"):
        return None
    cluster = (found.body.get("_source") or {}).get("duplicates", {}).get("cluster_id")
    return str(cluster) if cluster else None


def _record(
    r: redis.Redis, settings: Settings, records: Sequence[Takedown], *, keep_existing: bool
) -> None:
    """Store records (one MULTI/EXEC); an existing one is kept when ``keep_existing`` (a copy
    already taken down for its own reason keeps that reason)."""
    now = datetime.now(UTC).timestamp()
    pipe = r.pipeline(transaction=True)
    for record in records:
        encoded = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        if keep_existing:
            pipe.hsetnx(_records_key(settings), record["id"], encoded)
            pipe.zadd(_order_key(settings), {record["id"]: now}, nx=True)
        else:
            pipe.hset(_records_key(settings), record["id"], encoded)
            pipe.zadd(_order_key(settings), {record["id"]: now})
    pipe.execute()


def _audit(r: redis.Redis, settings: Settings, **event: Any) -> None:
    """The audit event of a takedown or lift, written after it: one Redis could not take is
    logged, not raised (the takedown itself was done)."""
    try:
        audit.record(r, settings, **event)
    except redis.RedisError:
        log.warning("audit event not written", extra={"action": event.get("action")}, exc_info=True)


def take_down(
    es: Elasticsearch,
    r: redis.Redis,
    settings: Settings,
    article_id: str,
    reason: str,
    actor: str,
    with_copies: bool = False,
    *,
    address: str | None = None,
) -> TakedownResult:
    """Take an article down (and its copies with ``with_copies``): the record first, so that
    from then on ingest refuses it and the worker skips it, then everything stored removed.
    Taking down an id again replaces its reason (a copy then stands on its own: lifting its
    original's copies leaves it) and removes anything that came back; an id never indexed can
    be taken down too (its re-post is then refused).

    Raises ``TakedownError`` for a bad id or reason; Redis and Elasticsearch errors propagate
    (the record may then stand while something is left: run it again, it is idempotent)."""
    _check_id(article_id)
    reason = " ".join(reason.split())
    if not reason:
        raise TakedownError("give a reason (it is shown to whoever posts the article again)")
    if len(reason) > MAX_REASON_CHARS:
        raise TakedownError(f"the reason has at most {MAX_REASON_CHARS} characters")
    previous = get(r, settings, article_id)
    cluster = _cluster_of(es, settings, article_id) or (previous and previous["cluster_id"])
    at = datetime.now(UTC).isoformat(timespec="seconds")
    record: Takedown = {
        "id": article_id,
        "reason": reason,
        "actor": actor,
        "at": at,
        "copy_of": None,  # taken down for itself now, whatever it was before
        "cluster_id": cluster,
    }
    _record(r, settings, [record], keep_existing=False)
    result = TakedownResult(takedown=record)
    if with_copies:
        result.copies, result.copies_left = _copies_of(es, settings, article_id, cluster)
        copies: list[Takedown] = [
            {
                "id": copy,
                "reason": reason,
                "actor": actor,
                "at": at,
                "copy_of": article_id,
                "cluster_id": cluster,
            }
            for copy in result.copies
        ]
        _record(r, settings, copies, keep_existing=True)
    removed = purge(es, r, settings, [article_id, *result.copies])
    result.documents_deleted = removed.documents
    result.dead_letters_removed = removed.dead_letters
    result.status_records_removed = removed.status_records
    result.saved_search_matches_removed = removed.saved_search_matches
    _audit(
        r,
        settings,
        actor=actor,
        action="article.takedown",
        target=article_id,
        address=address,
        detail={
            "reason": reason,
            "with_copies": with_copies,
            "copies": len(result.copies),
            "copies_left": result.copies_left,
            "documents_deleted": result.documents_deleted,
            "dead_letters_removed": result.dead_letters_removed,
        },
    )
    return result


def lift(
    r: redis.Redis,
    settings: Settings,
    article_id: str,
    actor: str,
    with_copies: bool = False,
    *,
    address: str | None = None,
) -> list[Takedown]:
    """Lift the takedown of an article (and, ``with_copies``, of the copies taken down with
    it): it may be posted again. Nothing removed comes back by itself. Returns the records
    lifted; empty when the article was not taken down."""
    _check_id(article_id)
    lifted: list[Takedown] = []
    found = get(r, settings, article_id)
    if found is not None:
        lifted.append(found)
    if with_copies:
        every: dict[str, str] = r.hgetall(_records_key(settings))  # type: ignore[assignment]
        lifted += [
            record
            for record in (json.loads(raw) for raw in every.values())
            if record.get("copy_of") == article_id
        ]
    if not lifted:
        return []
    ids = [record["id"] for record in lifted]
    pipe = r.pipeline(transaction=True)
    pipe.hdel(_records_key(settings), *ids)
    pipe.zrem(_order_key(settings), *ids)
    pipe.execute()
    _audit(
        r,
        settings,
        actor=actor,
        action="article.restore",
        target=article_id,
        address=address,
        detail={"with_copies": with_copies, "lifted": len(ids)},
    )
    return lifted
