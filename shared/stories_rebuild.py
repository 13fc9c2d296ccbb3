"""``newsroom stories rebuild`` (cli/stories.py only parses and prints): assign stories across
an existing index, from a clean story namespace, in ``seen_at`` order, re-stamping every
document (``story``, ``seen_at``) through ``bulk_index`` with its own external version (a whole
document, never a partial update: that would break the versioning).

Articles indexed before stories existed have neither field: this is how they get them. Workers
may keep running: an article they assign meanwhile keeps its story when the rebuild reaches it
(``story:article:<id>``). Cost: the ids and dates of the whole index are held in memory (about
100 bytes an article), documents are read and written ``chunk`` at a time with their embeddings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis
from elasticsearch import Elasticsearch
from elasticsearch.helpers import scan

from shared.index import bulk_index
from shared.settings import Settings
from shared.stories_assign import StoryParams, assign, read_with_vectors, restamp, seen_at

Progress = Callable[[int, int], None]  # (articles done, total)


class StoryRebuildError(RuntimeError):
    """The index cannot take stories yet (no such index, or a mapping without them)."""


@dataclass
class RebuildReport:
    articles: int = 0
    stories: int = 0
    merges: int = 0
    restamped: int = 0
    failed: dict[str, str] = field(default_factory=dict)


def clear_stories(redis_client: redis.Redis, prefix: str) -> int:
    """Delete every key of the story namespace ``<prefix>:story:``; how many."""
    deleted = 0
    batch: list[str] = []
    for key in redis_client.scan_iter(f"{prefix}:story:*", count=1000):
        batch.append(str(key))
        if len(batch) >= 500:
            deleted += int(redis_client.delete(*batch))
            batch = []
    if batch:
        deleted += int(redis_client.delete(*batch))
    return deleted


def _check_mapping(es: Elasticsearch, settings: Settings) -> None:
    alias = settings.articles_alias
    if not es.indices.exists_alias(name=alias):
        raise StoryRebuildError(f"no index behind {alias}: nothing to rebuild")
    for index, body in es.indices.get_mapping(index=alias).body.items():
        properties = body["mappings"].get("properties", {})
        if "story" not in properties or "seen_at" not in properties:
            raise StoryRebuildError(
                f"{index} has no story mapping yet: start a worker of this version once (it "
                "adds the fields in place), then run this again"
            )


def _targets(es: Elasticsearch, settings: Settings) -> list[str]:
    if es.indices.exists_alias(name=settings.articles_next_alias):
        # The rebuild reads the live index: its documents written into the index being filled
        # would overwrite the re-enriched ones there (same external version). The re-enrichment
        # assigns stories itself.
        raise StoryRebuildError(
            "`newsroom reindex` is filling a new index: run this once it has finished"
        )
    return [settings.articles_write_alias]


def rebuild_stories(
    es: Elasticsearch,
    redis_client: redis.Redis,
    settings: Settings,
    *,
    chunk: int = 200,
    progress: Progress | None = None,
) -> RebuildReport:
    """Assign every indexed article a story again (module docstring)."""
    _check_mapping(es, settings)
    targets = _targets(es, settings)
    now = datetime.now(UTC)
    alias = settings.articles_alias
    es.indices.refresh(index=alias)
    order: list[tuple[float, str]] = []
    for hit in scan(
        es,
        index=alias,
        query={"query": {"match_all": {}}, "_source": ["published_at", "received_at"]},
        size=1000,
    ):
        order.append((seen_at(hit["_source"], now).timestamp(), hit["_id"]))
    order.sort()
    clear_stories(redis_client, settings.index_prefix)
    params = StoryParams.from_settings(settings)
    report = RebuildReport()
    stories: set[str] = set()
    for start in range(0, len(order), chunk):
        ids = [article_id for _, article_id in order[start : start + chunk]]
        docs = read_with_vectors(es, alias, {"ids": {"values": ids}}, size=len(ids))
        result = assign(
            docs, redis_client=redis_client, prefix=settings.index_prefix, params=params, now=now
        )
        for doc in docs:
            doc["story"] = result.assignments[doc["id"]].as_fields()
            doc["seen_at"] = seen_at(doc, now).isoformat()
            stories.add(doc["story"]["id"])
        outcome = bulk_index(
            es, targets, docs, may_vanish={settings.articles_next_alias}, stamp=False
        )
        report.failed.update(outcome.failed)
        report.failed.update(outcome.retry)
        if result.merges:
            es.indices.refresh(index=",".join(targets), ignore_unavailable=True)
            for loser, survivor in sorted(result.merges.items()):
                report.restamped += restamp(
                    es, settings, targets, loser, survivor, limit=settings.story_restamp_limit
                )
            report.merges += len(result.merges)
            stories -= set(result.merges)
        report.articles += len(docs)
        if progress is not None:
            progress(report.articles, len(order))
    report.stories = len(stories)
    es.indices.refresh(index=alias)
    return report
