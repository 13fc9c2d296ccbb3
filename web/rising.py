"""What is rising (issue 17): the people, organisations, places, keywords and stories named in
more articles in the recent window than their baseline predicts (``shared.rising.score``).

Counted by ``seen_at`` (when the article's news happened); articles without it (indexed before
stories, until ``newsroom stories rebuild``) are left out. Two small requests in filter
context, no scripts, for a group of kinds (one aggregation per kind in each):

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
# Kinds are asked in this many groups side by side, each group in two requests (its kinds'
# aggregations together). Asking each kind and window apart cost Elasticsearch 2.2 times the
# CPU for the same answer (a sum of `took` of 166 against 74 ms for all five kinds over the
# rising benchmark's 100,000 documents), and `python -m bench.stories --only rising` gave a p99
# of 133-159 ms with it, 89 ms with this (runs at different loads, docs/BENCHMARKS.md); two
# groups keep the two search threads of a small node busy without queueing.
GROUPS = 2
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_RECENT_HOURS = 168
MAX_BASELINE_DAYS = 90
_OPTIONS: dict[str, Any] = {"ignore_unavailable": True, "allow_no_indices": True}


def recent_body(fields: Mapping[str, str], span: Windows, min_count: int) -> dict[str, Any]:
    """The recent window's most frequent values of each field (``fields``: kind -> field), at
    least ``min_count`` articles each: one aggregation per kind, one pass over the window."""
    aggs = {
        kind: {"terms": {"field": field, "size": CANDIDATES, "min_doc_count": min_count}}
        for kind, field in fields.items()
    }
    return count_request([span.recent_range(SEEN_AT)], aggs)


def baseline_body(values: Mapping[str, tuple[str, Sequence[str]]], span: Windows) -> dict[str, Any]:
    """The baseline window's counts of just these values (``values``: kind -> (field, values)):
    only the articles naming one of them are visited, each kind counted under its own filter."""
    aggs = {
        kind: {
            "filter": {"terms": {field: list(wanted)}},
            "aggs": {
                "values": {"terms": {"field": field, "size": len(wanted), "include": list(wanted)}}
            },
        }
        for kind, (field, wanted) in values.items()
    }
    anyone = {
        "bool": {"should": [{"terms": {field: list(wanted)}} for field, wanted in values.values()]}
    }
    return count_request([span.baseline_range(SEEN_AT), anyone], aggs)


def _buckets(aggregation: Mapping[str, Any]) -> dict[str, int]:
    found = aggregation.get("buckets", [])
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


def merged_recent(
    es: Elasticsearch,
    alias: str,
    counted: Mapping[str, int],
    members: Sequence[str],
    span: Windows,
) -> dict[str, int]:
    """The recent counts of story ids merged into a rising story that were not candidates of
    their own (too few recent articles: articles not re-stamped yet); one more request, only
    when there are some (at most ``CANDIDATES`` stories' merged ids)."""
    extra = [member for member in members if member not in counted]
    if not extra:
        return {}
    field = KINDS["stories"]
    body = count_request(
        [span.recent_range(SEEN_AT), {"terms": {field: extra}}],
        {"values": {"terms": {"field": field, "size": len(extra), "include": extra}}},
    )
    response = es.search(index=alias, **_OPTIONS, **body).body
    return _buckets(response.get("aggregations", {}).get("values", {}))


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


def rising_group(
    es: Elasticsearch,
    redis_client: redis.Redis,
    settings: Settings,
    kinds: Sequence[str],
    span: Windows,
    limit: int = DEFAULT_LIMIT,
) -> dict[str, list[dict[str, Any]]]:
    """What of each of ``kinds`` (keys of ``KINDS``) is rising: kind -> [{value, label, recent,
    baseline, expected, ratio, score}], at most ``limit`` each. Two requests whatever the
    number of kinds: the recent window's candidates, then their baseline counts (and a third
    when stories merged into a candidate story are not candidates themselves: ``merged_recent``)."""
    alias = settings.articles_alias
    response = es.search(
        index=alias,
        **_OPTIONS,
        **recent_body({kind: KINDS[kind] for kind in kinds}, span, settings.rising_min_count),
    ).body
    aggregations = response.get("aggregations", {})
    recent = {kind: _buckets(aggregations.get(kind, {})) for kind in kinds}
    records: dict[str, stories.StoryRecord] = {}
    groups: dict[str, dict[str, list[str]] | None] = dict.fromkeys(kinds)
    wanted: dict[str, list[str]] = {kind: list(recent[kind]) for kind in kinds}
    if recent.get("stories"):
        records = stories.read_stories(redis_client, settings, wanted["stories"])
        found = story_groups(records, wanted["stories"])
        groups["stories"] = found
        wanted["stories"] = list(dict.fromkeys(m for members in found.values() for m in members))
        recent["stories"] |= merged_recent(es, alias, recent["stories"], wanted["stories"], span)
    asked = {kind: (KINDS[kind], values) for kind, values in wanted.items() if values}
    baseline: dict[str, dict[str, int]] = {}
    if asked:
        response = es.search(index=alias, **_OPTIONS, **baseline_body(asked, span)).body
        aggregations = response.get("aggregations", {})
        baseline = {kind: _buckets(aggregations.get(kind, {}).get("values", {})) for kind in asked}
    out: dict[str, list[dict[str, Any]]] = {}
    for kind in kinds:
        ranked = rank(recent[kind], baseline.get(kind, {}), span, settings, groups[kind])[:limit]
        labels: dict[str, str] = {}
        if kind == "places" and ranked:
            labels = place_labels(es, alias, [value for value, _ in ranked])
        if kind == "stories":
            by_live = {str(r.get("id")): r for r in records.values() if r.get("id")}
            labels = {
                v: str(by_live[v]["title"]) for v, _ in ranked if by_live.get(v, {}).get("title")
            }
        out[kind] = [
            {"value": value, "label": labels.get(value, value), **found.as_dict()}
            for value, found in ranked
        ]
    return out


def rising(
    es: Elasticsearch,
    redis_client: redis.Redis,
    settings: Settings,
    kinds: Sequence[str],
    span: Windows,
    limit: int = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """Every kind asked for, in ``GROUPS`` groups side by side (the pool overlaps them)."""
    pool = _search_pool()
    parts = [list(kinds[start::GROUPS]) for start in range(GROUPS) if kinds[start::GROUPS]]
    futures: list[Future[dict[str, list[dict[str, Any]]]]] = [
        pool.submit(rising_group, es, redis_client, settings, part, span, limit) for part in parts
    ]
    found: dict[str, list[dict[str, Any]]] = {}
    for future in futures:
        found |= future.result()
    return {
        **span.as_dict(),
        "min_count": settings.rising_min_count,
        "min_score": settings.rising_min_score,
        "kinds": {kind: found[kind] for kind in kinds},
    }
