"""Story assignment (issue 17): every article joins a story or starts one, incrementally, in an
index shared by every worker (Redis, under ``<prefix>:story:``), with no global recompute.

Used by the worker after enrichment (``worker/stories.py``, once per batch) and by
``newsroom stories rebuild`` (cli/stories.py) over an existing index; numpy and Redis only (no
enrichment library), so both can import it. The records and keys readers use are the contract
of ``shared/stories.py``.

Pure part (``features``, ``score``): an article's embedding (normalised, 384-d), its people,
organisations, places (geonameid, else name), keyphrases and near-duplicate cluster, each
capped, and its ``seen_at`` (``published_at`` when given and not in the future, else
``received_at``).

Shared part (``assign``), per batch, a few pipelined round trips:

1. Read each article's earlier assignment (``story:article:<id>``: a replayed or re-enriched
   article keeps its story), and for each of the batch's keys (``story:k:<kind>:<digest>``, a
   sorted set of story ids scored by the story's last time, at most ``max_per_key`` newest) the
   stories seen within ``window_s`` of the article, and its article count (``story:df:...``,
   for idf weights).
2. Candidate stories: those sharing keys with the article, ranked by the idf of the keys they
   share, the best ``max_candidates``; read their centroids (the mean of their members'
   embeddings, base64 float16, and how many) and times, following merges.
3. Score: ``cosine(article, centroid) + entity_weight * overlap`` where overlap is the idf share
   of the article's keys the story holds. The article joins the best story when the score
   reaches ``threshold`` and the cosine reaches ``cosine_floor`` (articles merely naming the
   same people do not join), else starts ``s<article id>``. A near-duplicate joins its
   cluster's story whatever the score. A second candidate scoring ``merge_threshold`` or more
   (cosine at least ``merge_cosine``) is merged: the smaller story into the larger.
4. Write in one MULTI/EXEC, every key read WATCHed (like the near-duplicate index,
   worker/enrich/duplicates.py): two workers holding articles of one new event are serialised,
   the loser backs off, re-reads and joins the winner's story. After ``MAX_ATTEMPTS`` lost races
   the batch is written unguarded (a story may then split in two or miss a count; never an
   error). Measured: three writers assigning the dev set's articles back to back, batches of
   10 with no enrichment between them (far hotter than workers are), lost 15-30 races in 60
   batches and wrote none unguarded.

Everything is bounded: keys per article (``MAX_KEYS_PER_KIND``), stories per key, candidates
per article, counts kept per story (``MAX_COUNTS``), merged ids listed; records and article keys
expire after ``ttl_s``, the inverted index, key counts and cluster keys after ``2 * window_s``
(a story not updated within the window can no longer be joined). Measured on the dev set (194
articles, 82 stories): about 4 KB a story record and 4.5 KB of Redis an article in all, half of
it the per-key entries, which are shared once names and keyphrases repeat.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import math
import random
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import redis
from elasticsearch import Elasticsearch

from shared.document import Story
from shared.index import bulk_index
from shared.settings import Settings
from shared.stories import (
    NamedCount,
    PlaceCount,
    StoryRecord,
    article_key,
    encode_record,
    recent_key,
    story_key,
)

log = logging.getLogger(__name__)

Vector = npt.NDArray[np.float32]

DIMENSIONS = 384
# Keys an article brings of each kind (the first ones: entities come most mentioned first).
MAX_KEYS_PER_KIND = 12
KINDS = ("person", "org", "place", "keyword")
# How much each kind of key counts against the others (tuned on dev, quality/stories.py).
KIND_WEIGHTS = {"person": 1.0, "org": 1.0, "place": 0.6, "keyword": 0.8}
# Counts kept per story and kind (the record lists the top ``TOP`` of them).
MAX_COUNTS = 30
TOP = 20
MAX_MERGED_LISTED = 100
MAX_ATTEMPTS = 8
MERGE_HOPS = 4
# ``story:recent`` keeps at most this many live stories (the most recently updated).
MAX_RECENT = 200_000
_TEXT_LIMIT = 200  # characters of a key value or a title kept


@dataclass(frozen=True)
class StoryParams:
    window_s: float = 7 * 86400
    threshold: float = 0.65
    cosine_floor: float = 0.5
    entity_weight: float = 0.35
    merge_threshold: float = 0.7
    merge_cosine: float = 0.55
    max_candidates: int = 30
    max_per_key: int = 50
    ttl_s: int = 30 * 86400

    @classmethod
    def from_settings(cls, settings: Settings) -> StoryParams:
        return cls(
            window_s=settings.story_window_days * 86400,
            threshold=settings.story_threshold,
            cosine_floor=settings.story_cosine_floor,
            merge_threshold=settings.story_merge_threshold,
            merge_cosine=settings.story_merge_cosine,
            max_candidates=settings.story_max_candidates,
            max_per_key=settings.story_index_max_per_key,
            ttl_s=settings.story_ttl_s,
        )


# --- the pure part ---------------------------------------------------------------------------


@dataclass
class ArticleFeatures:
    article_id: str
    seen_at: float  # epoch seconds
    seen_at_iso: str
    vector: Vector | None  # normalised
    keys: dict[str, str]  # "<kind>:<value>" -> kind
    cluster: str | None  # the near-duplicate cluster, when the article is not its own
    title: str
    source: str | None
    people: list[str]
    organisations: list[str]
    places: list[PlaceCount]  # count 1, with what identifies and locates the place


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            day = date.fromisoformat(value[:10])
        except ValueError:
            return None
        parsed = datetime(day.year, day.month, day.day)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def seen_at(doc: Mapping[str, Any], now: datetime | None = None) -> datetime:
    """When the article's news happened: ``published_at`` when given and not in the future,
    else ``received_at`` (else now)."""
    now = now or datetime.now(UTC)
    published = _parse_time(doc.get("published_at"))
    if published is not None and published <= now:
        return published
    return _parse_time(doc.get("received_at")) or now


def _normalised(values: Any) -> Vector | None:
    if not isinstance(values, list | tuple | np.ndarray) or len(values) != DIMENSIONS:
        return None
    try:
        vector = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError):
        return None
    norm = float(np.linalg.norm(vector))
    if not math.isfinite(norm) or norm == 0.0:
        return None
    return vector / norm


def _fold(value: Any) -> str:
    return " ".join(str(value).casefold().split())[:_TEXT_LIMIT]


def _names(values: Any) -> list[str]:
    if not isinstance(values, list):
        return []
    out = [str(v)[:_TEXT_LIMIT] for v in values[: MAX_KEYS_PER_KIND * 4] if isinstance(v, str)]
    return list(dict.fromkeys(v for v in out if v.strip()))[:MAX_KEYS_PER_KIND]


def features(doc: Mapping[str, Any], now: datetime | None = None) -> ArticleFeatures:
    """What story assignment reads of an enriched document; bounded whatever it holds."""
    when = seen_at(doc, now)
    people = _names(doc.get("people"))
    organisations = _names(doc.get("organisations"))
    keywords = _names(doc.get("keywords"))
    places: list[PlaceCount] = []
    place_keys: list[str] = []
    raw_places = doc.get("places")
    for place in raw_places[: MAX_KEYS_PER_KIND * 4] if isinstance(raw_places, list) else []:
        if not isinstance(place, Mapping) or not isinstance(place.get("name"), str):
            continue
        geonameid = place.get("geonameid")
        key = f"g{geonameid}" if isinstance(geonameid, int) else _fold(place["name"])
        if key in place_keys or not key:
            continue
        place_keys.append(key)
        entry: PlaceCount = {"name": place["name"][:_TEXT_LIMIT], "count": 1}
        if isinstance(geonameid, int):
            entry["geonameid"] = geonameid
        if isinstance(place.get("country_code"), str):
            entry["country_code"] = place["country_code"]
        location = place.get("location")
        if isinstance(location, Mapping):
            with contextlib.suppress(KeyError, TypeError, ValueError):
                entry["lat"], entry["lon"] = float(location["lat"]), float(location["lon"])
        places.append(entry)
        if len(places) >= MAX_KEYS_PER_KIND:
            break
    keys: dict[str, str] = {}
    for kind, values in (
        ("person", [_fold(v) for v in people]),
        ("org", [_fold(v) for v in organisations]),
        ("place", place_keys),
        ("keyword", [_fold(v) for v in keywords]),
    ):
        for value in values:
            if value:
                keys.setdefault(f"{kind}:{value}", kind)
    duplicates = doc.get("duplicates")
    cluster = duplicates.get("cluster_id") if isinstance(duplicates, Mapping) else None
    article_id = str(doc["id"])
    title = doc.get("title") or str(doc.get("body") or "")[:120] or article_id
    source = doc.get("source")
    return ArticleFeatures(
        article_id=article_id,
        seen_at=when.timestamp(),
        seen_at_iso=when.isoformat(),
        vector=_normalised(doc.get("embedding")),
        keys=keys,
        cluster=str(cluster) if isinstance(cluster, str) and cluster != article_id else None,
        title=" ".join(str(title).split())[:_TEXT_LIMIT],
        source=str(source)[:_TEXT_LIMIT] if isinstance(source, str) and source else None,
        people=people,
        organisations=organisations,
        places=places,
    )


def idf(df: int, total: int) -> float:
    """The weight of a key seen in ``df`` of ``total`` articles (smoothed, at least 0.1)."""
    return max(0.1, math.log((total + 1) / (df + 1)) + 1.0)


def overlap(weights: Mapping[str, float], shared: Iterable[str]) -> float:
    """The share of an article's key weight that a story holds (0 when it has no keys)."""
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    return sum(weights[key] for key in set(shared) if key in weights) / total


def cosine(vector: Vector | None, centroid: Vector | None) -> float:
    """Cosine of a normalised vector with a sum of normalised vectors (0 when either is
    missing)."""
    if vector is None or centroid is None:
        return 0.0
    norm = float(np.linalg.norm(centroid))
    return 0.0 if norm == 0.0 else float(np.dot(vector, centroid) / norm)


def score(cos: float, share: float, params: StoryParams) -> float:
    return cos + params.entity_weight * share


def joins(cos: float, share: float, params: StoryParams) -> bool:
    """Whether an article joins a story: enough in all, and similar enough in meaning."""
    return cos >= params.cosine_floor and score(cos, share, params) >= params.threshold


def merges(cos: float, share: float, params: StoryParams) -> bool:
    """Whether a second story the article matches this strongly is the same story."""
    return cos >= params.merge_cosine and score(cos, share, params) >= params.merge_threshold


# --- the stored state ------------------------------------------------------------------------


def _digest(value: str) -> str:
    return hashlib.blake2b(value.encode(), digest_size=12).hexdigest()


class _Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.space = f"{prefix}:story"

    def index(self, key: str) -> str:
        """Sorted set: story ids holding this key, scored by the story's last time."""
        return f"{self.space}:k:{_digest(key)}"

    def df(self, key: str) -> str:
        """Counter: articles holding this key."""
        return f"{self.space}:df:{_digest(key)}"

    def cluster(self, cluster: str) -> str:
        """String: the story of a near-duplicate cluster."""
        return f"{self.space}:c:{cluster}"

    @property
    def total(self) -> str:
        return f"{self.space}:total"


def _encode_vector(vector: Vector, scale: float = 1.0) -> str:
    """``vector / scale`` as base64 float16: half the size of float32; a centroid is stored as
    its mean (components of unit vectors, well within float16's precision)."""
    return base64.b64encode(np.asarray(vector / scale, dtype="<f2").tobytes()).decode()


def _decode_vector(text: str | None, scale: float = 1.0) -> Vector | None:
    if not text:
        return None
    try:
        raw = base64.b64decode(text)
    except ValueError:
        return None
    if len(raw) != DIMENSIONS * 2:
        return None
    vector = np.frombuffer(raw, dtype="<f2").astype(np.float32) * np.float32(scale)
    return vector if bool(np.isfinite(vector).all()) else None


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def _epoch(value: str | None) -> float | None:
    parsed = _parse_time(value)
    return parsed.timestamp() if parsed else None


def _count_field(value: str | None) -> int:
    """A record's count (a decimal string); 0 when absent or malformed."""
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0


@dataclass
class _Story:
    """A story's state while a batch is decided (read from Redis or made in the batch)."""

    id: str
    centroid: Vector | None = None
    embedded: int = 0
    article_count: int = 0
    first: float = 0.0
    last: float = 0.0
    title: str = ""
    central: str = ""
    central_vector: Vector | None = None
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    place_info: dict[str, PlaceCount] = field(default_factory=dict)
    merged: list[str] = field(default_factory=list)
    merged_into: str | None = None
    changed: bool = False

    @classmethod
    def read(cls, story_id: str, fields: Mapping[str, str]) -> _Story:
        counts: dict[str, dict[str, int]] = {}
        place_info: dict[str, PlaceCount] = {}
        try:
            stored = json.loads(fields.get("counts") or "{}")
            counts = {k: {n: int(c) for n, c in v.items()} for k, v in stored["counts"].items()}
            place_info = stored.get("places") or {}
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
        if not isinstance(place_info, dict):
            place_info = {}
        try:
            found = json.loads(fields.get("merged") or "[]")
        except ValueError:
            found = []
        merged = [m for m in found if isinstance(m, str)] if isinstance(found, list) else []
        # A field that does not parse (a corrupt or hand-edited record) reads as absent: a batch
        # meeting it is assigned, never failed and retried.
        embedded = _count_field(fields.get("embedded"))
        return cls(
            id=story_id,
            centroid=_decode_vector(fields.get("centroid"), float(embedded or 1)),
            embedded=embedded,
            article_count=_count_field(fields.get("article_count")),
            first=_epoch(fields.get("first_seen")) or 0.0,
            last=_epoch(fields.get("last_updated")) or 0.0,
            title=fields.get("title") or "",
            central=fields.get("central") or "",
            central_vector=_decode_vector(fields.get("central_vector")),
            counts=counts,
            place_info=place_info,
            merged=merged,
            merged_into=fields.get("merged_into") or None,
        )

    def add(self, article: ArticleFeatures) -> None:
        if article.vector is not None:
            self.centroid = (
                article.vector.copy() if self.centroid is None else self.centroid + article.vector
            )
            self.embedded += 1
        self.article_count += 1
        self.first = article.seen_at if not self.first else min(self.first, article.seen_at)
        self.last = max(self.last, article.seen_at)
        for kind, names in (
            ("sources", [article.source] if article.source else []),
            ("people", article.people),
            ("organisations", article.organisations),
        ):
            self._count(kind, dict.fromkeys(names, 1))
        place_counts: dict[str, int] = {}
        for place in article.places:
            key = f"g{place['geonameid']}" if "geonameid" in place else _fold(place["name"])
            place_counts[key] = 1
            self.place_info.setdefault(key, place)
        self._count("places", place_counts)
        self._central(article.article_id, article.title, article.vector)
        self.changed = True

    def absorb(self, other: _Story) -> None:
        """Take in the story ``other`` (merged into this one)."""
        if other.centroid is not None:
            self.centroid = (
                other.centroid.copy() if self.centroid is None else self.centroid + other.centroid
            )
        self.embedded += other.embedded
        self.article_count += other.article_count
        self.first = min(x for x in (self.first, other.first) if x) if other.first else self.first
        self.last = max(self.last, other.last)
        for kind, counts in other.counts.items():
            self._count(kind, counts)
        for key, info in other.place_info.items():
            self.place_info.setdefault(key, info)
        self.merged = list(dict.fromkeys([*self.merged, other.id, *other.merged]))[
            :MAX_MERGED_LISTED
        ]
        self._central(other.central, other.title, other.central_vector)
        self.changed = True

    def _central(self, article_id: str, title: str, vector: Vector | None) -> None:
        if not self.central or (
            vector is not None
            and cosine(vector, self.centroid) > cosine(self.central_vector, self.centroid)
        ):
            self.central, self.title, self.central_vector = article_id, title, vector

    def _count(self, kind: str, counts: Mapping[str, int]) -> None:
        if not counts:
            return
        mine = self.counts.setdefault(kind, {})
        for name, count in counts.items():
            mine[name] = mine.get(name, 0) + count
        if len(mine) > MAX_COUNTS:
            kept = sorted(mine.items(), key=lambda item: (-item[1], item[0]))[:MAX_COUNTS]
            self.counts[kind] = dict(kept)
            if kind == "places":
                kept_places = self.counts[kind]
                self.place_info = {k: v for k, v in self.place_info.items() if k in kept_places}

    def top(self, kind: str) -> list[tuple[str, int]]:
        counts = self.counts.get(kind) or {}
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP]

    def fields(self) -> dict[str, str]:
        record: StoryRecord = {
            "id": self.id,
            "title": self.title,
            "central": self.central,
            "first_seen": _iso(self.first),
            "last_updated": _iso(self.last),
            "article_count": self.article_count,
            "sources": [NamedCount(name=n, count=c) for n, c in self.top("sources")],
            "people": [NamedCount(name=n, count=c) for n, c in self.top("people")],
            "organisations": [NamedCount(name=n, count=c) for n, c in self.top("organisations")],
            "places": [
                {**self.place_info.get(key, PlaceCount(name=key)), "count": count}
                for key, count in self.top("places")
            ],
            "merged": self.merged,
            "merged_into": self.merged_into,
        }
        out = encode_record(record)
        out["counts"] = json.dumps(
            {"counts": self.counts, "places": self.place_info},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        out["embedded"] = str(self.embedded)
        if self.centroid is not None:
            out["centroid"] = _encode_vector(self.centroid, max(1, self.embedded))
        if self.central_vector is not None:
            out["central_vector"] = _encode_vector(self.central_vector)
        return out


@dataclass(frozen=True)
class Assignment:
    story_id: str  # the live story (after this batch's merges)
    similarity: float | None  # cosine with the story it joined; None when it started one
    created: bool = False

    def as_fields(self) -> Story:
        return {
            "id": self.story_id,
            "similarity": None if self.similarity is None else round(self.similarity, 4),
        }


@dataclass
class BatchStories:
    """What ``assign`` decided: each article's story, and the merges (merged-away -> survivor)
    whose articles already indexed need re-stamping."""

    assignments: dict[str, Assignment] = field(default_factory=dict)
    merges: dict[str, str] = field(default_factory=dict)


# --- the shared part -------------------------------------------------------------------------


def assign(
    docs: Sequence[Mapping[str, Any]],
    *,
    redis_client: redis.Redis,
    prefix: str,
    params: StoryParams,
    now: datetime | None = None,
    indexed: Mapping[str, str] | None = None,
) -> BatchStories:
    """Give every document a story (module docstring). Idempotent: an article assigned before
    keeps its story (followed through merges) and is not counted again. ``indexed``: article
    id -> the ``story.id`` its indexed document carries (the worker's), kept like an earlier
    assignment when the article's key has expired (``ttl_s``): re-enriching an old article
    keeps its story."""
    now = now or datetime.now(UTC)
    prepared = list({a.article_id: a for a in (features(doc, now) for doc in docs)}.values())
    if not prepared:
        return BatchStories()
    prepared.sort(key=lambda a: (a.seen_at, a.article_id))
    keys = _Keys(prefix)
    for attempt in range(MAX_ATTEMPTS + 1):
        guarded = attempt < MAX_ATTEMPTS
        started = time.perf_counter()
        try:
            return _assign(
                prepared, redis_client, keys, params, guarded=guarded, indexed=indexed or {}
            )
        except redis.WatchError:
            # Another worker wrote a key this batch read: back off for about as long as an
            # attempt takes (growing), so the next one does not meet the same writer again.
            spent = time.perf_counter() - started
            time.sleep(random.uniform(0.0, spent * (attempt + 1)))  # noqa: S311
    raise AssertionError("the unguarded attempt cannot lose a race")  # pragma: no cover


def _read_stories(
    redis_client: redis.Redis,
    tx: Any,
    keys: _Keys,
    story_ids: Iterable[str],
    known: dict[str, _Story],
    *,
    guarded: bool,
) -> None:
    """Read the records of ``story_ids`` into ``known``, following merges a few hops."""
    wanted = sorted({s for s in story_ids if s not in known})
    for _ in range(MERGE_HOPS):
        if not wanted:
            return
        if guarded:
            tx.watch(*[story_key(keys.prefix, s) for s in wanted])
        reader = redis_client.pipeline(transaction=False)
        for story_id in wanted:
            reader.hgetall(story_key(keys.prefix, story_id))
        replies = reader.execute()
        follow = set()
        for story_id, reply in zip(wanted, replies, strict=True):
            if reply:
                story = _Story.read(story_id, reply)
                known[story_id] = story
                if story.merged_into and story.merged_into not in known:
                    follow.add(story.merged_into)
        wanted = sorted(follow)


def _live(known: Mapping[str, _Story], story_id: str) -> str | None:
    current = story_id
    for _ in range(MERGE_HOPS + 1):
        story = known.get(current)
        if story is None:
            return None
        if not story.merged_into:
            return current
        current = story.merged_into
    return None


def _assign(
    batch: list[ArticleFeatures],
    redis_client: redis.Redis,
    keys: _Keys,
    params: StoryParams,
    *,
    guarded: bool,
    indexed: Mapping[str, str],
) -> BatchStories:
    if not guarded:
        log.warning("story index: writing unguarded after %d lost races", MAX_ATTEMPTS)
    prefix = keys.prefix
    all_keys = sorted({key for a in batch for key in a.keys})
    clusters = sorted({a.cluster for a in batch if a.cluster})
    with redis_client.pipeline(transaction=True) as tx:
        # Round 1: earlier assignments, the stories of each key and cluster, key counts.
        watched = [article_key(prefix, a.article_id) for a in batch]
        watched += [keys.index(key) for key in all_keys]
        watched += [keys.cluster(c) for c in clusters]
        if guarded:
            tx.watch(*watched)  # type: ignore[no-untyped-call]
        earliest = min(a.seen_at for a in batch) - params.window_s
        reader = redis_client.pipeline(transaction=False)
        for a in batch:
            reader.get(article_key(prefix, a.article_id))
        for key in all_keys:
            reader.zrevrangebyscore(
                keys.index(key), "+inf", earliest, start=0, num=params.max_per_key, withscores=True
            )
            reader.get(keys.df(key))
        for cluster in clusters:
            reader.get(keys.cluster(cluster))
        reader.get(keys.total)
        replies = iter(reader.execute())
        previous = {a.article_id: next(replies) or indexed.get(a.article_id) for a in batch}
        holders: dict[str, list[tuple[str, float]]] = {}
        df: dict[str, int] = {}
        for key in all_keys:
            holders[key] = [(str(s), float(t)) for s, t in next(replies)]
            df[key] = int(next(replies) or 0)
        cluster_story = {c: next(replies) for c in clusters}
        total = int(next(replies) or 0) + len(batch)

        # Candidates of each new article, ranked by the weight of the keys they share.
        weights: dict[str, dict[str, float]] = {}
        candidates: dict[str, list[str]] = {}
        for a in batch:
            weights[a.article_id] = {
                key: KIND_WEIGHTS[kind] * idf(df[key], total) for key, kind in a.keys.items()
            }
            if previous[a.article_id]:
                candidates[a.article_id] = []
                continue
            ranked: dict[str, float] = defaultdict(float)
            for key in a.keys:
                for story_id, last in holders[key]:
                    if last >= a.seen_at - params.window_s:
                        ranked[story_id] += weights[a.article_id][key]
            best = sorted(ranked.items(), key=lambda item: (-item[1], item[0]))
            candidates[a.article_id] = [s for s, _ in best[: params.max_candidates]]

        # Round 2: the candidates' records (and the stories of earlier assignments, clusters).
        known: dict[str, _Story] = {}
        _read_stories(
            redis_client,
            tx,
            keys,
            [
                *(s for found in candidates.values() for s in found),
                *(str(s) for s in previous.values() if s),
                *(str(s) for s in cluster_story.values() if s),
            ],
            known,
            guarded=guarded,
        )

        result = _decide(
            batch, previous, candidates, holders, cluster_story, weights, known, params
        )

        # Write everything in one transaction.
        tx.multi()
        new_articles = [a for a in batch if not previous[a.article_id]]
        for story in known.values():
            if not story.changed:
                continue
            tx.hset(story_key(prefix, story.id), mapping=story.fields())  # type: ignore[arg-type]
            tx.expire(story_key(prefix, story.id), params.ttl_s)
            if story.merged_into:
                tx.zrem(recent_key(prefix), story.id)
            else:
                tx.zadd(recent_key(prefix), {story.id: story.last})
        for a in batch:
            tx.set(
                article_key(prefix, a.article_id),
                result.assignments[a.article_id].story_id
                if not previous[a.article_id]
                else str(previous[a.article_id]),
                ex=params.ttl_s,
            )
        index_ttl = int(2 * params.window_s)
        for a in new_articles:
            story = known[_live(known, result.assignments[a.article_id].story_id) or ""]
            for key in a.keys:
                tx.zadd(keys.index(key), {story.id: story.last})
                tx.zremrangebyrank(keys.index(key), 0, -params.max_per_key - 1)
                tx.expire(keys.index(key), index_ttl)
                tx.incr(keys.df(key))
                tx.expire(keys.df(key), index_ttl)
            # Later near-duplicates of this article (their cluster is its cluster, or its id
            # when it started one) join its story.
            tx.set(keys.cluster(a.cluster or a.article_id), story.id, ex=index_ttl)
        if new_articles:
            tx.incrby(keys.total, len(new_articles))
        tx.zremrangebyrank(recent_key(prefix), 0, -MAX_RECENT - 1)
        tx.execute()
    return result


def _decide(
    batch: list[ArticleFeatures],
    previous: Mapping[str, Any],
    candidates: Mapping[str, list[str]],
    holders: Mapping[str, list[tuple[str, float]]],
    cluster_story: Mapping[str, Any],
    weights: Mapping[str, Mapping[str, float]],
    known: dict[str, _Story],
    params: StoryParams,
) -> BatchStories:
    """Each article's story, in time order; the stories this batch made or joined are
    candidates of its later articles (through the keys they share)."""
    result = BatchStories()
    local_holders: dict[str, set[str]] = defaultdict(set)  # key -> stories made or joined here
    chosen: dict[str, str] = {}  # article -> its live story
    for a in batch:
        me = a.article_id
        if previous[me]:
            kept = _live(known, str(previous[me])) or str(previous[me])
            chosen[me] = kept
            result.assignments[me] = Assignment(kept, None)
            continue
        forced: str | None = None
        if a.cluster:
            stored = cluster_story.get(a.cluster)
            for option in (chosen.get(a.cluster), str(stored) if stored else None):
                if option and _live(known, option):
                    forced = _live(known, option)
                    break
        # Which of the article's keys each live candidate holds: from the index (its best
        # candidates only) and from the stories this batch has made or joined.
        allowed = {_live(known, s) for s in candidates[me]}
        shared_of: dict[str, set[str]] = defaultdict(set)
        for key in a.keys:
            for story_id, _ in holders.get(key, ()):
                live = _live(known, story_id)
                if live is not None and live in allowed:
                    shared_of[live].add(key)
            for story_id in local_holders[key]:
                here = _live(known, story_id)
                if here is not None:
                    shared_of[here].add(key)
        scored: list[tuple[float, float, float, str]] = []  # (score, cosine, share, story)
        for story_id, shared in shared_of.items():
            story = known[story_id]
            if not story.first - params.window_s <= a.seen_at <= story.last + params.window_s:
                continue
            cos = cosine(a.vector, story.centroid)
            share = overlap(weights[me], shared)
            scored.append((score(cos, share, params), cos, share, story_id))
        scored.sort(key=lambda item: (-item[0], item[3]))
        target: str | None = forced
        similarity: float | None = None
        if target is not None:
            similarity = cosine(a.vector, known[target].centroid)
        elif scored and joins(scored[0][1], scored[0][2], params):
            target, similarity = scored[0][3], scored[0][1]
        if target is None:
            target = f"s{me}"
            known[target] = _Story(id=target)
            result.assignments[me] = Assignment(target, None, created=True)
        else:
            result.assignments[me] = Assignment(target, similarity)
        # Other stories this article matches strongly are the same story: merge them (not
        # into a story it starts: with merging as strict as joining, it would have joined).
        for _, cos, share, story_id in scored if not result.assignments[me].created else ():
            live_target = _live(known, target) or target
            other = _live(known, story_id)
            if other is None or other == live_target or not merges(cos, share, params):
                continue
            survivor, loser = known[live_target], known[other]
            if (loser.article_count, -loser.first) > (survivor.article_count, -survivor.first):
                survivor, loser = loser, survivor
            survivor.absorb(loser)
            loser.merged_into = survivor.id
            loser.changed = True
            result.merges[loser.id] = survivor.id
        live_target = _live(known, target) or target
        known[live_target].add(a)
        chosen[me] = live_target
        for key in a.keys:
            local_holders[key].add(live_target)
    # Final ids: follow merges made later in the batch.
    for me, assignment in list(result.assignments.items()):
        final = _live(known, assignment.story_id) or assignment.story_id
        if final != assignment.story_id:
            result.assignments[me] = Assignment(final, assignment.similarity, assignment.created)
    for merged_away in list(result.merges):
        result.merges[merged_away] = _live(known, merged_away) or result.merges[merged_away]
    return result


# --- re-stamping the articles of a merged-away story -----------------------------------------


def read_with_vectors(
    es: Elasticsearch, alias: str, query: Mapping[str, Any], *, size: int, sort: Any = None
) -> list[dict[str, Any]]:
    """Documents matching ``query`` with their ``_source`` and their embedding (kept out of
    ``_source`` by Elasticsearch 9, returned through ``fields``), as whole documents again."""
    response = es.search(
        index=alias,
        query=dict(query),
        size=size,
        fields=[{"field": "embedding"}],
        sort=sort,
        ignore_unavailable=True,
    )
    out = []
    for hit in response["hits"]["hits"]:
        doc = dict(hit["_source"])
        values = (hit.get("fields") or {}).get("embedding")
        if values:
            first = values[0]
            doc["embedding"] = [float(x) for x in (first if isinstance(first, list) else values)]
        out.append(doc)
    return out


def restamp(
    es: Elasticsearch,
    settings: Settings,
    targets: Sequence[str],
    loser: str,
    survivor: str,
    *,
    limit: int,
) -> int:
    """Give up to ``limit`` indexed articles of story ``loser`` the id ``survivor`` (whole
    documents re-indexed with the same external version, as ``bulk_index`` writes them; a
    partial update would break the versioning). Beyond the limit, readers follow the record's
    ``merged``. Each target is re-stamped from its own documents: while `newsroom reindex`
    fills a new index, its re-enriched documents are never overwritten by the live index's
    (same external version). Returns how many articles were re-stamped."""
    if limit <= 0:
        return 0
    restamped: set[str] = set()
    for target in targets:
        docs = read_with_vectors(es, target, {"term": {"story.id": loser}}, size=limit)
        for doc in docs:
            story = doc.get("story") or {}
            doc["story"] = {"id": survivor, "similarity": story.get("similarity")}
        if not docs:
            continue
        outcome = bulk_index(
            es, [target], docs, may_vanish={settings.articles_next_alias}, stamp=False
        )
        if outcome.failed or outcome.retry:
            log.warning(
                "story merge: articles not re-stamped",
                extra={"story": loser, "failed": len(outcome.failed) + len(outcome.retry)},
            )
        restamped.update(outcome.indexed)
    return len(restamped)
