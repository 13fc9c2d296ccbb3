"""A story's page (issue 17 item 2): one event reported over days, by several outlets.

The story's record lives in Redis (shared/stories.py, written by the worker); its articles are
the index's documents whose ``story.id`` is the story's id or one of the ids merged into it
(the worker re-stamps merged articles, up to a bound: reading both is safe). What the page
shows comes from the index, so a taken-down article (gone from the index) never shows, and
the counts are the articles there now:

- coverage over time by source: a ``date_histogram`` on ``seen_at`` (the moment an article's
  news happened) with a ``terms`` sub-aggregation on ``source``;
- who was quoted: the ``quotes.speaker`` counts (quotes are nested);
- the articles, oldest first, read up to ``MAX_ARTICLES``: the first report, the articles
  grouped by near-duplicate cluster, the places on the map and what each article added (the
  people, places and quotes the story had not had before it: a walk in ``seen_at`` order over
  the articles read; the page says when there were more).

Cost: one Redis round trip for the record (more when it was merged), then two searches: the
bounds, totals, speakers and articles in one, the histogram (its interval picked from the
bounds) in the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, TypedDict

import redis
from elasticsearch import Elasticsearch

from shared import stories, takedown
from shared.settings import Settings
from shared.stories import NamedCount, StoryRecord, is_story_id
from web.search import choose_interval

STORY_FIELD = "story.id"
SEEN_FIELD = "seen_at"
# Articles read for the page's lists, the map and "what each article added", oldest first.
MAX_ARTICLES = 200
# Sources named in the coverage; the rest are counted as "other".
COVERAGE_SOURCES = 6
SPEAKERS = 20
_ARTICLE_SOURCE = [
    "id",
    "title",
    "url",
    "source",
    "published_at",
    "received_at",
    SEEN_FIELD,
    "duplicates.cluster_id",
    "people",
    "organisations",
    "places",
    "quotes.speaker",
    "quotes.text",
]


class AddedQuote(TypedDict):
    speaker: str | None
    text: str


class Added(TypedDict):
    """What an article brought that the story's earlier articles (of those read) had not."""

    people: list[str]
    places: list[str]
    quotes: list[AddedQuote]


class StoryArticle(TypedDict):
    id: str
    title: str | None
    url: str | None
    source: str | None
    published_at: str | None
    seen_at: str | None
    cluster_id: str | None
    added: Added


class ArticleGroup(TypedDict):
    """Articles of one near-duplicate cluster (or one article without a cluster), oldest first."""

    cluster_id: str | None
    articles: list[StoryArticle]


class CoverageBucket(TypedDict):
    date: str  # the interval's first day
    count: int
    sources: list[NamedCount]  # the top COVERAGE_SOURCES sources' counts, in their order


class Coverage(TypedDict):
    interval: str  # day, week, month, quarter or year
    sources: list[str]  # the most frequent sources, as the buckets' columns
    buckets: list[CoverageBucket]
    # Articles of other sources, per bucket (same order as ``buckets``).
    other: list[int]


class StoryPlace(TypedDict):
    name: str
    geonameid: str | None
    country: str | None
    country_code: str | None
    kind: str | None
    location: dict[str, float] | None
    articles: int  # of the articles read, how many name it


class Story(TypedDict):
    """A story's page, and ``GET /api/stories/<id>``: the same."""

    id: str
    # The id asked for when it was merged into this one (the page redirects; the API answers
    # with the live story and names the old id here); else None.
    requested: str | None
    title: str | None
    first_seen: str | None
    last_updated: str | None
    article_count: int  # in the index now
    sources: list[NamedCount]  # the 20 most frequent
    source_count: int  # every source (approximate beyond 3,000)
    merged: list[str]
    coverage: Coverage
    first_report: StoryArticle | None
    groups: list[ArticleGroup]
    quoted: list[NamedCount]
    places: list[StoryPlace]
    articles_read: int
    # More articles than MAX_ARTICLES: the groups, places and "added" cover the first ones.
    truncated: bool


def valid_story_id(story_id: str) -> bool:
    return is_story_id(story_id)


def story_ids(story_id: str, record: StoryRecord | None) -> list[str]:
    """The ids whose articles belong to the story: its own and those merged into it."""
    merged = [m for m in (record or {}).get("merged") or [] if isinstance(m, str)]
    return list(dict.fromkeys([story_id, *merged]))


def _place_key(place: Mapping[str, Any]) -> str | None:
    geonameid = place.get("geonameid")
    if geonameid:
        return f"id:{geonameid}"
    name = place.get("name")
    return f"name:{name}" if isinstance(name, str) and name else None


def _quote_key(quote: Mapping[str, Any]) -> str | None:
    text = quote.get("text")
    if not isinstance(text, str) or not text.strip():
        return None
    return " ".join(text.lower().split())


def what_each_added(sources: Sequence[Mapping[str, Any]]) -> list[Added]:
    """For each article (in the order given: oldest first), the people, places and quotes
    none of the articles before it had. Places are told apart by GeoNames id (else name),
    quotes by their text (case and spacing aside)."""
    people: set[str] = set()
    places: set[str] = set()
    quotes: set[str] = set()
    out: list[Added] = []
    for source in sources:
        added: Added = {"people": [], "places": [], "quotes": []}
        for person in source.get("people") or []:
            if isinstance(person, str) and person not in people:
                people.add(person)
                added["people"].append(person)
        for place in source.get("places") or []:
            key = _place_key(place) if isinstance(place, Mapping) else None
            if key is not None and key not in places:
                places.add(key)
                added["places"].append(str(place.get("name") or ""))
        for quote in source.get("quotes") or []:
            key = _quote_key(quote) if isinstance(quote, Mapping) else None
            if key is not None and key not in quotes:
                quotes.add(key)
                speaker = quote.get("speaker")
                added["quotes"].append(
                    {
                        "speaker": speaker if isinstance(speaker, str) else None,
                        "text": quote["text"],
                    }
                )
        out.append(added)
    return out


def group_by_cluster(articles: Sequence[StoryArticle]) -> list[ArticleGroup]:
    """The articles (oldest first) in near-duplicate groups, each group where its first
    article falls; an article without a cluster is a group of its own."""
    groups: dict[str, ArticleGroup] = {}
    for article in articles:
        key = article["cluster_id"] or f"article:{article['id']}"
        group = groups.setdefault(key, {"cluster_id": article["cluster_id"], "articles": []})
        group["articles"].append(article)
    return list(groups.values())


def story_places(sources: Sequence[Mapping[str, Any]]) -> list[StoryPlace]:
    """The places the articles name, each once (by GeoNames id, else name), most named first."""
    found: dict[str, StoryPlace] = {}
    for source in sources:
        seen_here: set[str] = set()
        for place in source.get("places") or []:
            key = _place_key(place) if isinstance(place, Mapping) else None
            if key is None or key in seen_here:
                continue
            seen_here.add(key)
            if key in found:
                found[key]["articles"] += 1
                continue
            location = place.get("location")
            found[key] = {
                "name": str(place.get("name")),
                "geonameid": str(place["geonameid"]) if place.get("geonameid") else None,
                "country": place.get("country"),
                "country_code": place.get("country_code"),
                "kind": place.get("kind"),
                "location": dict(location) if isinstance(location, Mapping) else None,
                "articles": 1,
            }
    return sorted(found.values(), key=lambda p: -p["articles"])


def _article(hit: Mapping[str, Any], added: Added) -> StoryArticle:
    source = hit.get("_source", {})
    cluster = (source.get("duplicates") or {}).get("cluster_id")
    return {
        "id": hit["_id"],
        "title": source.get("title"),
        "url": source.get("url"),
        "source": source.get("source"),
        "published_at": source.get("published_at"),
        "seen_at": source.get(SEEN_FIELD),
        "cluster_id": str(cluster) if cluster else None,
        "added": added,
    }


def _articles_body(ids: list[str], size: int) -> dict[str, Any]:
    return {
        "query": {"bool": {"filter": [{"terms": {STORY_FIELD: ids}}]}},
        # (unmapped_type: an index from before stories has no seen_at; sorting on it unmapped
        # is a 400 otherwise.)
        "sort": [
            {SEEN_FIELD: {"order": "asc", "missing": "_last", "unmapped_type": "date"}},
            {"id": "asc"},
        ],
        "size": size,
        "track_total_hits": True,
        "_source": _ARTICLE_SOURCE,
        "aggs": {
            "first": {"min": {"field": SEEN_FIELD}},
            "last": {"max": {"field": SEEN_FIELD}},
            "sources": {"terms": {"field": "source", "size": 20}},
            "source_count": {"cardinality": {"field": "source"}},
            "quotes": {
                "nested": {"path": "quotes"},
                "aggs": {"speakers": {"terms": {"field": "quotes.speaker", "size": SPEAKERS}}},
            },
        },
    }


def _coverage_body(ids: list[str], interval: str) -> dict[str, Any]:
    return {
        "query": {"bool": {"filter": [{"terms": {STORY_FIELD: ids}}]}},
        "size": 0,
        "track_total_hits": False,
        "aggs": {
            "top": {"terms": {"field": "source", "size": COVERAGE_SOURCES}},
            "dates": {
                "date_histogram": {
                    "field": SEEN_FIELD,
                    "calendar_interval": interval,
                    "format": "yyyy-MM-dd",
                },
                "aggs": {"sources": {"terms": {"field": "source", "size": COVERAGE_SOURCES}}},
            },
        },
    }


def _named_counts(buckets: Sequence[Mapping[str, Any]]) -> list[NamedCount]:
    return [{"name": str(b["key"]), "count": int(b["doc_count"])} for b in buckets]


def shape_coverage(aggregations: Mapping[str, Any], interval: str) -> Coverage:
    """The histogram's buckets with the top sources' counts in each (a table's rows)."""
    top = [str(b["key"]) for b in aggregations.get("top", {}).get("buckets", [])]
    buckets: list[CoverageBucket] = []
    other: list[int] = []
    for bucket in aggregations.get("dates", {}).get("buckets", []):
        counts = {
            str(b["key"]): int(b["doc_count"]) for b in bucket.get("sources", {}).get("buckets", [])
        }
        named: list[NamedCount] = [{"name": name, "count": counts.get(name, 0)} for name in top]
        buckets.append(
            {"date": bucket["key_as_string"], "count": int(bucket["doc_count"]), "sources": named}
        )
        other.append(int(bucket["doc_count"]) - sum(n["count"] for n in named))
    return {"interval": interval, "sources": top, "buckets": buckets, "other": other}


def _live_title(
    r: redis.Redis, settings: Settings, record: StoryRecord | None, first: StoryArticle | None
) -> str | None:
    """The record's title, unless its article was taken down (then the first report's)."""
    central = (record or {}).get("central")
    title = (record or {}).get("title")
    if title and central and takedown.get(r, settings, central) is not None:
        title = None
    return title or (first["title"] if first else None)


def get_story(
    es: Elasticsearch,
    r: redis.Redis,
    settings: Settings,
    alias: str,
    story_id: str,
    *,
    max_articles: int = MAX_ARTICLES,
) -> Story | None:
    """The story ``story_id`` (followed to the story it was merged into: ``requested`` then
    names the id asked for), or None when the id is malformed or no record and no indexed
    article has it."""
    if not valid_story_id(story_id):
        return None
    live = stories.resolve(r, settings, story_id)
    record = stories.read_story(r, settings, live)
    ids = story_ids(live, record)
    options: dict[str, Any] = {"index": alias, "ignore_unavailable": True, "allow_no_indices": True}
    response = es.search(**options, **_articles_body(ids, max_articles))
    total = int(response["hits"]["total"]["value"])
    if record is None and total == 0:
        return None
    aggregations = response.get("aggregations", {})
    first_seen = aggregations.get("first", {}).get("value_as_string")
    last_seen = aggregations.get("last", {}).get("value_as_string")
    interval = (
        choose_interval(date.fromisoformat(first_seen[:10]), date.fromisoformat(last_seen[:10]))
        if first_seen and last_seen
        else "day"
    )
    coverage = shape_coverage(
        es.search(**options, **_coverage_body(ids, interval)).get("aggregations", {}), interval
    )
    hits = response["hits"]["hits"]
    sources = [hit.get("_source", {}) for hit in hits]
    articles = [
        _article(hit, added) for hit, added in zip(hits, what_each_added(sources), strict=True)
    ]
    first = articles[0] if articles else None
    speakers = aggregations.get("quotes", {}).get("speakers", {}).get("buckets", [])
    return {
        "id": live,
        "requested": story_id if story_id != live else None,
        "title": _live_title(r, settings, record, first),
        "first_seen": first_seen or (record or {}).get("first_seen"),
        "last_updated": last_seen or (record or {}).get("last_updated"),
        "article_count": total,
        "sources": _named_counts(aggregations.get("sources", {}).get("buckets", [])),
        "source_count": int(aggregations.get("source_count", {}).get("value") or 0),
        "merged": ids[1:],
        "coverage": coverage,
        "first_report": first,
        "groups": group_by_cluster(articles),
        "quoted": _named_counts(speakers),
        "places": story_places(sources),
        "articles_read": len(articles),
        "truncated": total > len(articles),
    }


def map_article(story: Story) -> dict[str, Any]:
    """The story's places as one article's, for web/maps.py's ``article_map``."""
    return {"places": [dict(place) for place in story["places"]]}
