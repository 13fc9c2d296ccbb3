"""What is rising (issue 17): the people, organisations, places, keywords and stories named in
more articles in the recent window than their baseline predicts (``shared.rising.score``).

Counted by ``seen_at`` (when the article's news happened); articles without it (indexed before
stories, until ``newsroom stories rebuild``) are left out. Per kind, two small requests in
filter context, no scripts:

1. the recent window's most frequent values: a terms aggregation of at most ``CANDIDATES``
   values with at least ``min_count`` articles each (a value with fewer can never rise);
2. the baseline window's counts of just those values (a terms filter and an ``include`` list).

So the cost is bounded by ``CANDIDATES`` whatever the index holds. The limit this sets: a value
outside the recent window's ``CANDIDATES`` most frequent is not considered, however new (with
100 candidates, the 101st value has at most as many articles as the 100th). The window
bounds are rounded to the minute, so repeated requests within a minute are the same request
(the shard request cache may answer them).

Stories are labelled with their titles from Redis (``shared.stories.read_stories``); a story
merged into another is counted with the one it joined. Places are GeoNames ids, labelled with
the name the newest article gives them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import Any

import redis
from elasticsearch import Elasticsearch

from shared import stories
from shared.rising import Score, Windows, count_request, score
from shared.settings import Settings
from web.search import _search_pool, place_labels

SEEN_AT = "seen_at"
# Kind (as in URLs) -> the keyword field counted.
KINDS: dict[str, str] = {
    "people": "people",
    "organisations": "organisations",
    "places": "places.geonameid",
    "keywords": "keywords",
    "stories": "story.id",
}
# Values of the recent window considered per kind (the terms aggregation's size).
CANDIDATES = 100
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_RECENT_HOURS = 168
MAX_BASELINE_DAYS = 90
_OPTIONS: dict[str, Any] = {"ignore_unavailable": True, "allow_no_indices": True}


def recent_body(field: str, span: Windows, min_count: int) -> dict[str, Any]:
    """The recent window's most frequent values of ``field`` (at least ``min_count`` each)."""
    terms = {"field": field, "size": CANDIDATES, "min_doc_count": min_count}
    return count_request([span.recent_range(SEEN_AT)], {"values": {"terms": terms}})


def baseline_body(field: str, span: Windows, values: Sequence[str]) -> dict[str, Any]:
    """The baseline window's counts of ``values`` of ``field`` only."""
    terms = {"field": field, "size": len(values), "include": list(values)}
    return count_request(
        [span.baseline_range(SEEN_AT), {"terms": {field: list(values)}}],
        {"values": {"terms": terms}},
    )


def _buckets(response: Mapping[str, Any]) -> dict[str, int]:
    found = response.get("aggregations", {}).get("values", {}).get("buckets", [])
    return {str(bucket["key"]): int(bucket["doc_count"]) for bucket in found}


def story_groups(
    records: Mapping[str, stories.StoryRecord], ids: Sequence[str]
) -> dict[str, list[str]]:
    """Live story id -> the ids its articles may carry (itself, the stories merged into it,
    and any of ``ids`` that resolved to it). Unknown ids stand alone."""
    groups: dict[str, list[str]] = {}
    for story_id in ids:
        record = records.get(story_id) or {}
        live = str(record.get("id") or story_id)
        members = groups.setdefault(live, [live, *(record.get("merged") or [])])
        if story_id not in members:
            members.append(story_id)
    return groups


def _sum(counts: Mapping[str, int], members: Sequence[str]) -> int:
    return sum(counts.get(member, 0) for member in dict.fromkeys(members))


def rank(
    recent: Mapping[str, int],
    baseline: Mapping[str, int],
    span: Windows,
    settings: Settings,
    groups: Mapping[str, Sequence[str]] | None = None,
) -> list[tuple[str, Score]]:
    """The rising values, most surprising first (then the most recent articles, then by
    value). ``groups``: values counted together (a story and those merged into it)."""
    groups = groups or {value: [value] for value in recent}
    scored = []
    for value, members in groups.items():
        found = score(
            _sum(recent, members),
            _sum(baseline, members),
            window_ratio=span.ratio,
            min_count=settings.rising_min_count,
            min_score=settings.rising_min_score,
        )
        if found.rising:
            scored.append((value, found))
    scored.sort(key=lambda item: (-item[1].score, -item[1].recent, item[0]))
    return scored


def rising_kind(
    es: Elasticsearch,
    redis_client: redis.Redis,
    settings: Settings,
    kind: str,
    span: Windows,
    limit: int = DEFAULT_LIMIT,
) -> list[dict[str, Any]]:
    """What of ``kind`` (a key of ``KINDS``) is rising: [{value, label, recent, baseline,
    expected, ratio, score}], at most ``limit``."""
    field = KINDS[kind]
    alias = settings.articles_alias
    min_count = settings.rising_min_count
    recent = _buckets(
        es.search(index=alias, **_OPTIONS, **recent_body(field, span, min_count)).body
    )
    if not recent:
        return []
    records: dict[str, stories.StoryRecord] = {}
    groups: dict[str, list[str]] | None = None
    values = list(recent)
    if kind == "stories":
        records = stories.read_stories(redis_client, settings, values)
        groups = story_groups(records, values)
        values = list(dict.fromkeys(member for members in groups.values() for member in members))
    baseline = _buckets(
        es.search(index=alias, **_OPTIONS, **baseline_body(field, span, values)).body
    )
    ranked = rank(recent, baseline, span, settings, groups)[:limit]
    labels: dict[str, str] = {}
    if kind == "places" and ranked:
        labels = place_labels(es, alias, [value for value, _ in ranked])
    if kind == "stories":
        by_live = {str(r.get("id")): r for r in records.values() if r.get("id")}
        labels = {v: str(by_live[v]["title"]) for v, _ in ranked if by_live.get(v, {}).get("title")}
    return [
        {"value": value, "label": labels.get(value, value), **found.as_dict()}
        for value, found in ranked
    ]


def rising(
    es: Elasticsearch,
    redis_client: redis.Redis,
    settings: Settings,
    kinds: Sequence[str],
    span: Windows,
    limit: int = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """Every kind asked for, side by side (one thread each: the requests overlap)."""
    pool = _search_pool()
    futures: dict[str, Future[list[dict[str, Any]]]] = {
        kind: pool.submit(rising_kind, es, redis_client, settings, kind, span, limit)
        for kind in kinds
    }
    return {
        **span.as_dict(),
        "min_count": settings.rising_min_count,
        "min_score": settings.rising_min_score,
        "kinds": {kind: future.result() for kind, future in futures.items()},
    }
