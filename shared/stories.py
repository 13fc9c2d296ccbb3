"""Stories (issue 17): one event reported over days, by several outlets, in different words.

The contract between the worker, which assigns every article a story at index time
(``worker/stories.py``), and the web and CLI, which read stories. Stories live in Redis under the
index prefix, beside the near-duplicate index, shared by every worker; each indexed article
carries ``story.id`` (and ``seen_at``, the moment its news happened: ``published_at``, else
``received_at``) in Elasticsearch.

Keys (``<prefix>:story:*``):

- ``story:s:<story id>`` (hash): the story's record, the fields of ``StoryRecord`` (numbers as
  decimal strings, lists and mappings as JSON). ``merged_into`` set: the story was merged into
  another; follow it (``resolve``).
- ``story:recent`` (sorted set): live story ids by ``last_updated`` (epoch seconds).
- ``story:article:<article id>`` (string): the story an article was assigned to (an article
  processed again keeps its story unless its text changed).

A story id is ``s`` followed by the id of the article that started it (``s<article id>``):
deterministic, so a replayed batch assigns the same ids.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import redis

from shared.article import ARTICLE_ID_PATTERN, is_article_id
from shared.settings import Settings

# A merged story points at the story it joined; chains are followed at most this far (a merge
# points at a story that existed before it, so a chain is never a cycle; this bounds a corrupt one).
MAX_MERGE_HOPS = 16


# "s" and the id of the article that started the story.
STORY_ID_PATTERN = "^s" + ARTICLE_ID_PATTERN.removeprefix("^")


def is_story_id(value: str) -> bool:
    """Whether ``value`` can name a story (anything else names none: refuse it early)."""
    return value.startswith("s") and is_article_id(value[1:])


class NamedCount(TypedDict):
    name: str
    count: int


class PlaceCount(TypedDict, total=False):
    name: str
    count: int
    geonameid: int
    country_code: str | None
    lat: float
    lon: float


class StoryRecord(TypedDict, total=False):
    id: str
    title: str  # the title of its most central article (closest to the story's centroid)
    central: str  # that article's id
    first_seen: str  # ISO date-time: the earliest ``seen_at`` of its articles
    last_updated: str  # ISO date-time: the latest
    article_count: int
    sources: list[NamedCount]  # most frequent first, at most 20
    people: list[NamedCount]  # top entities, most frequent first, at most 20 each
    organisations: list[NamedCount]
    places: list[PlaceCount]
    merged: list[str]  # ids of stories merged into this one (their articles may still carry them)
    merged_into: str | None


_JSON_FIELDS = ("sources", "people", "organisations", "places", "merged")
_INT_FIELDS = ("article_count",)


def story_key(prefix: str, story_id: str) -> str:
    return f"{prefix}:story:s:{story_id}"


def recent_key(prefix: str) -> str:
    return f"{prefix}:story:recent"


def article_key(prefix: str, article_id: str) -> str:
    return f"{prefix}:story:article:{article_id}"


def encode_record(record: StoryRecord) -> dict[str, str]:
    """The hash fields of ``record`` (the inverse of ``decode_record``)."""
    out: dict[str, str] = {}
    for name, value in record.items():
        if value is None:
            continue
        if name in _JSON_FIELDS:
            out[name] = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        else:
            out[name] = str(value)
    return out


def _json_list(value: str) -> list[Any]:
    """A JSON list field's entries; a malformed one reads as empty (never an error)."""
    try:
        found = json.loads(value)
    except ValueError:
        return []
    return found if isinstance(found, list) else []


def _counts(value: str) -> list[Any]:
    """A count list's well-formed entries: objects with a string ``name`` and an int ``count``."""
    return [
        entry
        for entry in _json_list(value)
        if isinstance(entry, dict)
        and isinstance(entry.get("name"), str)
        and isinstance(entry.get("count"), int)
        and not isinstance(entry.get("count"), bool)
    ]


def decode_record(fields: dict[str, str]) -> StoryRecord | None:
    """The record of a story's hash fields. A field that does not parse (a corrupt or
    hand-edited hash) is left out, never an error: readers show what remains."""
    if not fields:
        return None
    record: StoryRecord = {}
    for name, value in fields.items():
        if name == "merged":
            record["merged"] = [m for m in _json_list(value) if isinstance(m, str)]
        elif name in _JSON_FIELDS:
            record[name] = _counts(value)  # type: ignore[literal-required]
        elif name in _INT_FIELDS:
            with contextlib.suppress(ValueError):
                record[name] = int(value)  # type: ignore[literal-required]
        elif name in StoryRecord.__annotations__:
            record[name] = value  # type: ignore[literal-required]
    return record


def resolve(r: redis.Redis, settings: Settings, story_id: str) -> str:
    """The live story ``story_id`` was merged into (itself when it was not). Records merged
    into each other in a ring (a corrupt store, or unguarded writers) resolve to the ring's
    least id, the same from every member (so a page redirects once, never in circles)."""
    current = story_id
    path = [current]
    for _ in range(MAX_MERGE_HOPS):
        target = r.hget(story_key(settings.index_prefix, current), "merged_into")
        if not target:
            return current
        current = str(target)
        if current in path:
            return min(path[path.index(current) :])
        path.append(current)
    return current


def read_story(r: redis.Redis, settings: Settings, story_id: str) -> StoryRecord | None:
    """The live record of ``story_id`` (after following merges), or None when unknown."""
    live = resolve(r, settings, story_id)
    fields = r.hgetall(story_key(settings.index_prefix, live))
    return decode_record(fields)  # type: ignore[arg-type]


def read_stories(
    r: redis.Redis, settings: Settings, story_ids: Sequence[str]
) -> dict[str, StoryRecord]:
    """Records of many stories at once (one pipelined round trip; merged ones are followed one
    by one). Keyed by the id asked for; unknown ids are left out."""
    with r.pipeline(transaction=False) as pipe:
        for story_id in story_ids:
            pipe.hgetall(story_key(settings.index_prefix, story_id))
        replies = pipe.execute()
    out: dict[str, StoryRecord] = {}
    for story_id, fields in zip(story_ids, replies, strict=True):
        record = decode_record(fields)
        if record is not None and record.get("merged_into"):
            record = read_story(r, settings, story_id)
        if record is not None:
            out[story_id] = record
    return out


def recent_stories(
    r: redis.Redis, settings: Settings, *, since_epoch: float, limit: int = 100
) -> list[str]:
    """Live story ids updated since ``since_epoch``, most recently updated first."""
    found = r.zrevrangebyscore(
        recent_key(settings.index_prefix), "+inf", since_epoch, start=0, num=limit
    )
    return [str(story_id) for story_id in found]


def forget_articles(
    r: redis.Redis,
    settings: Settings,
    article_ids: Sequence[str],
    indexed: Mapping[str, str] | None = None,
) -> int:
    """Taken-down articles leave their stories (shared/takedown.py ``purge``): their
    article -> story keys go, and a story whose title is one of theirs (its ``central``) loses
    that title (an empty one until another article joins and becomes central). Counts are left
    as they were (an upper bound). ``indexed``: article id -> the ``story.id`` its indexed
    document carries, for articles whose key has expired (``ttl_s``) in a story that lives on.
    Returns how many of the articles had a story."""
    if not article_ids:
        return 0
    keys = [article_key(settings.index_prefix, article_id) for article_id in article_ids]
    found = {
        article_id: str(story_id)
        for article_id, story_id in zip(article_ids, r.mget(keys), strict=True)
        if story_id
    }
    for article_id, story_id in (indexed or {}).items():
        found.setdefault(article_id, story_id)
    for article_id, story_id in found.items():
        key = story_key(settings.index_prefix, resolve(r, settings, story_id))
        if r.hget(key, "central") == article_id:
            r.hset(key, mapping={"title": "", "central": ""})
            r.hdel(key, "central_vector")
    r.delete(*keys)
    return len(found)
