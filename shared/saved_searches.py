"""Saved searches and their matches, kept in Redis: the web writes them, the worker reads them.

A saved search carries its Elasticsearch query compiled by the web's builder when it was saved,
so the worker runs it without importing web code. Keys, under ``<prefix>:saved:``:

- ``searches``: hash, id -> the saved search as JSON (with its owner, a user name);
- ``owner:<name>``: set, the ids of that user's saved searches (their quota);
- ``vectors``: hash, id -> the query's embedding (base64 float32), for semantic and hybrid
  searches; apart, so that listing saved searches does not load them;
- ``feed_keys``: hash, id -> the secret of its private feed URL (256 random bits); apart, so
  that no change to the record can bring back a key its owner replaced;
- ``<id>:matches``: sorted set, article id -> when it matched (µs), the newest N kept;
- ``<id>:articles``: hash, article id -> what the feed shows of it (title, url, ...);
- ``<id>:rate:<hour>``: matches recorded in that clock hour (expires);
- ``<id>:delivery``: hash, the last webhook delivery (state, at, detail);
- ``<id>:delivery:email``: hash, the last email delivery (state, at, detail);
- ``<id>:spike``: hash, the last spike alert (at, recent, baseline, expected, ratio, score);
- ``<id>:spike:cooldown``: set while a spike alert is cooling down (expires).
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import time
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import redis

# Record and remove matches in one step, so concurrent workers never keep an article's details
# without its place in the list (or the reverse), and a retried batch never records it twice:
# ZADD NX adds only articles this saved search has not matched yet. Nothing is recorded for a
# saved search deleted meanwhile, or past the hourly limit.
_RECORD_MATCHES = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {} end
local used = tonumber(redis.call('GET', KEYS[4]) or '0')
local limit = tonumber(ARGV[2])
local added = {}
for i = 5, #ARGV, 3 do
  if used >= limit then break end
  if redis.call('ZADD', KEYS[2], 'NX', ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('HSET', KEYS[3], ARGV[i + 1], ARGV[i + 2])
    used = used + 1
    added[#added + 1] = ARGV[i + 1]
  end
end
if #added > 0 then
  redis.call('INCRBY', KEYS[4], #added)
  redis.call('EXPIRE', KEYS[4], tonumber(ARGV[4]))
  local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
  if excess > 0 then
    local oldest = redis.call('ZRANGE', KEYS[2], 0, excess - 1)
    redis.call('ZREMRANGEBYRANK', KEYS[2], 0, excess - 1)
    redis.call('HDEL', KEYS[3], unpack(oldest))
  end
end
return added
"""

# Create only below the service's limit and the owner's quota, atomically (two web processes
# racing cannot pass either): 1 created, 0 the service is full, -1 the owner's quota is used.
_CREATE = """
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
if redis.call('SCARD', KEYS[3]) >= tonumber(ARGV[5]) then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[1])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[2], ARGV[1], ARGV[4]) end
if ARGV[6] ~= '' then redis.call('HSET', KEYS[4], ARGV[1], ARGV[6]) end
return 1
"""

# What a match keeps of an article: enough for a feed entry and a webhook.
MATCH_FIELDS = ("id", "title", "url", "source", "authors", "published_at", "language", "summary")
MAX_SUMMARY_CHARS = 600


@dataclass(frozen=True)
class SavedSearch:
    id: str
    name: str
    # The search as the user gave it: q, filters, from, to, mode (for display and links).
    params: dict[str, Any]
    # Compiled by the web's builder: the keyword query (text, facet filters, dates) and, for
    # kNN, the facet and date filters alone.
    query: dict[str, Any]
    knn_filter: list[dict[str, Any]]
    # keyword, or semantic/hybrid when the query has an embedding (``vectors``).
    mode: str
    similarity: float | None
    created_at: str
    urls: dict[str, str] = field(default_factory=dict)
    webhook_url: str | None = None
    # Signs each webhook body (HMAC-SHA256), so receivers can tell the POST came from here.
    webhook_secret: str | None = None
    # The user who saved it (None: saved before accounts existed; admins only see those). Only
    # its owner and admins see a saved search, unless ``shared`` (then every reader does).
    owner: str | None = None
    shared: bool = False
    # Email its new matches to its owner's address (accounts.User.email; worker/mail.py).
    email_alerts: bool = False
    # Tell when its matches spike (issue 17): after a batch it matched, its matches in the recent
    # window are scored against the baseline (shared/rising.py); a spike goes to its webhook as
    # a "saved_search.spike" event (and by email with email alerts): both then tell of spikes
    # only, not of every batch's matches (the feeds and page keep every match).
    spike_alerts: bool = False

    def public(self) -> dict[str, Any]:
        """What its readers may see: no webhook secret, only the webhook's host."""
        webhook_host = urlsplit(self.webhook_url).netloc if self.webhook_url else None
        return {
            "id": self.id,
            "name": self.name,
            "owner": self.owner,
            "shared": self.shared,
            "params": self.params,
            "mode": self.mode,
            "created_at": self.created_at,
            "urls": self.urls,
            "webhook": {"host": webhook_host} if webhook_host else None,
            "email_alerts": self.email_alerts,
            "spike_alerts": self.spike_alerts,
        }


def new_id() -> str:
    return secrets.token_urlsafe(12)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def encode_vector(vector: Sequence[float]) -> str:
    return base64.b64encode(array("f", vector).tobytes()).decode()


def decode_vector(text: str) -> list[float]:
    values = array("f")
    values.frombytes(base64.b64decode(text))
    return values.tolist()


def _key(prefix: str, *parts: str) -> str:
    return ":".join((prefix, "saved", *parts))


_FIELDS = {f.name for f in fields(SavedSearch)}


def _from_json(raw: str) -> SavedSearch:
    # Keys a later version wrote and this one does not know are left out, not an error.
    return SavedSearch(**{k: v for k, v in json.loads(raw).items() if k in _FIELDS})


def create(
    redis_client: redis.Redis,
    prefix: str,
    search: SavedSearch,
    vector: Sequence[float] | None,
    *,
    max_saved: int,
    max_per_owner: int = 10_000,
    feed_key: str | None = None,
) -> Literal["created", "full", "quota"]:
    """Store a new saved search (with the key of its private feed URL): "full" when
    ``max_saved`` are stored already, "quota" when its owner has ``max_per_owner``."""
    created = redis_client.eval(
        _CREATE,
        4,
        _key(prefix, "searches"),
        _key(prefix, "vectors"),
        _key(prefix, "owner", search.owner or ""),
        _key(prefix, "feed_keys"),
        search.id,
        _to_json(search),
        max_saved,
        encode_vector(vector) if vector else "",
        max_per_owner,
        feed_key or "",
    )
    return {1: "created", 0: "full"}.get(int(created), "quota")  # type: ignore[return-value]


def _to_json(search: SavedSearch) -> str:
    return json.dumps(asdict(search), separators=(",", ":"))


def update(redis_client: redis.Redis, prefix: str, search: SavedSearch) -> bool:
    """Store a changed saved search (same id and owner); False when it was deleted meanwhile
    (checked and written in one step, so a racing delete is never undone)."""
    return bool(
        redis_client.eval(_UPDATE, 1, _key(prefix, "searches"), search.id, _to_json(search))
    )


_UPDATE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


def get(redis_client: redis.Redis, prefix: str, search_id: str) -> SavedSearch | None:
    raw = redis_client.hget(_key(prefix, "searches"), search_id)
    return _from_json(str(raw)) if raw else None


def list_all(redis_client: redis.Redis, prefix: str) -> list[SavedSearch]:
    """Every saved search, newest first."""
    raw: Mapping[str, str] = redis_client.hgetall(_key(prefix, "searches"))  # type: ignore[assignment]
    searches = [_from_json(value) for value in raw.values()]
    return sorted(searches, key=lambda s: (s.created_at, s.id), reverse=True)


def with_vectors(
    redis_client: redis.Redis, prefix: str
) -> list[tuple[SavedSearch, list[float] | None]]:
    """Every saved search with its query embedding (None for keyword searches)."""
    pipe = redis_client.pipeline(transaction=False)
    pipe.hgetall(_key(prefix, "searches"))
    pipe.hgetall(_key(prefix, "vectors"))
    raw, vectors = pipe.execute()
    return [
        (search, decode_vector(vectors[search.id]) if search.id in vectors else None)
        for search in (_from_json(value) for value in raw.values())
    ]


def new_feed_key() -> str:
    """The secret of a private feed URL: 256 random bits, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


_SET_FEED_KEY = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
"""


def set_feed_key(redis_client: redis.Redis, prefix: str, search_id: str, key: str) -> bool:
    """Replace the private feed URL's key (the old URL stops working at once); False when the
    saved search was deleted meanwhile."""
    return bool(
        redis_client.eval(
            _SET_FEED_KEY, 2, _key(prefix, "searches"), _key(prefix, "feed_keys"), search_id, key
        )
    )


def feed_key(redis_client: redis.Redis, prefix: str, search_id: str) -> str | None:
    raw = redis_client.hget(_key(prefix, "feed_keys"), search_id)
    return str(raw) if raw else None


def by_feed_key(
    redis_client: redis.Redis, prefix: str, search_id: str, given: str
) -> SavedSearch | None:
    """The saved search whose private feed key is ``given`` (compared in constant time);
    None for an unknown id, a search without a key, or a wrong key alike."""
    pipe = redis_client.pipeline(transaction=False)
    pipe.hget(_key(prefix, "searches"), search_id)
    pipe.hget(_key(prefix, "feed_keys"), search_id)
    raw, stored = pipe.execute()
    if not raw or not stored:
        return None
    if not hmac.compare_digest(str(stored).encode(), given.encode()):
        return None
    return _from_json(str(raw))


def count_owned(redis_client: redis.Redis, prefix: str, owner: str) -> int:
    return int(redis_client.scard(_key(prefix, "owner", owner)))


def delete(redis_client: redis.Redis, prefix: str, search_id: str) -> bool:
    """Remove a saved search with its matches; False when there was none. Who may is the
    caller's question (web/saved.py: its owner and admins)."""
    search = get(redis_client, prefix, search_id)
    if search is None:
        return False
    pipe = redis_client.pipeline(transaction=True)
    pipe.hdel(_key(prefix, "searches"), search_id)
    pipe.hdel(_key(prefix, "vectors"), search_id)
    pipe.hdel(_key(prefix, "feed_keys"), search_id)
    pipe.srem(_key(prefix, "owner", search.owner or ""), search_id)
    pipe.delete(
        _key(prefix, search_id, "matches"),
        _key(prefix, search_id, "articles"),
        _key(prefix, search_id, "delivery"),
        _key(prefix, search_id, "delivery", "email"),
        _key(prefix, search_id, "spike"),
        _key(prefix, search_id, "spike", "cooldown"),
    )
    pipe.execute()
    return True


def match_record(source: Mapping[str, Any], article_id: str) -> dict[str, Any]:
    """What a match keeps of an article's ``_source``."""
    record = {name: source.get(name) for name in MATCH_FIELDS}
    record["id"] = article_id
    if isinstance(record["summary"], str):
        record["summary"] = record["summary"][:MAX_SUMMARY_CHARS]
    return record


def record_matches(
    redis_client: redis.Redis,
    prefix: str,
    search_id: str,
    articles: Sequence[Mapping[str, Any]],
    *,
    keep: int,
    max_per_hour: int,
    now: float | None = None,
) -> list[str]:
    """Record these matching articles (``match_record``s, oldest first); return the ids of the
    ones this saved search had not matched before, which are the ones to announce."""
    if not articles:
        return []
    now = time.time() if now is None else now
    hour = int(now // 3600)
    base = int(now * 1_000_000)
    args: list[str | int] = [search_id, max_per_hour, keep, 3600 * 2]
    # Later in the list, newer in the feed: a batch's matches keep their order.
    for offset, article in enumerate(articles):
        args += [base + offset, str(article["id"]), json.dumps(article, separators=(",", ":"))]
    # EVALSHA, the script's text sent only the first time a Redis server sees it.
    added = redis_client.register_script(_RECORD_MATCHES)(
        keys=[
            _key(prefix, "searches"),
            _key(prefix, search_id, "matches"),
            _key(prefix, search_id, "articles"),
            _key(prefix, search_id, "rate", str(hour)),
        ],
        args=args,
    )
    return [str(article_id) for article_id in added]


def recent_matches(
    redis_client: redis.Redis, prefix: str, search_id: str, limit: int
) -> list[dict[str, Any]]:
    """The newest matches first, each with ``matched_at`` (ISO 8601, UTC)."""
    scored: list[tuple[str, float]] = redis_client.zrevrange(  # type: ignore[assignment]
        _key(prefix, search_id, "matches"), 0, limit - 1, withscores=True
    )
    if not scored:
        return []
    raw: list[str | None] = redis_client.hmget(  # type: ignore[assignment]
        _key(prefix, search_id, "articles"), [article_id for article_id, _ in scored]
    )
    matches = []
    for (_, score), value in zip(scored, raw, strict=True):
        if value:
            matched_at = datetime.fromtimestamp(score / 1_000_000, UTC)
            matches.append(json.loads(value) | {"matched_at": _iso(matched_at)})
    return matches


def match_counts(redis_client: redis.Redis, prefix: str, search_ids: Sequence[str]) -> list[int]:
    pipe = redis_client.pipeline(transaction=False)
    for search_id in search_ids:
        pipe.zcard(_key(prefix, search_id, "matches"))
    return [int(count) for count in pipe.execute()]


Channel = Literal["webhook", "email"]


def _delivery_key(prefix: str, search_id: str, channel: Channel) -> str:
    if channel == "webhook":
        return _key(prefix, search_id, "delivery")
    return _key(prefix, search_id, "delivery", channel)


def set_delivery(
    redis_client: redis.Redis,
    prefix: str,
    search_id: str,
    state: Literal["delivered", "retrying", "failed"],
    detail: str,
    channel: Channel = "webhook",
) -> None:
    """Remember the last delivery by webhook or email, for the saved search's page (not for
    deleted ones)."""
    if not redis_client.hexists(_key(prefix, "searches"), search_id):
        return
    redis_client.hset(
        _delivery_key(prefix, search_id, channel),
        mapping={"state": state, "at": _iso(datetime.now(UTC)), "detail": detail[:500]},
    )


def get_delivery(
    redis_client: redis.Redis, prefix: str, search_id: str, channel: Channel = "webhook"
) -> dict[str, str] | None:
    raw: dict[str, str] = redis_client.hgetall(_delivery_key(prefix, search_id, channel))  # type: ignore[assignment]
    return raw or None


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def forget_matches(redis_client: redis.Redis, prefix: str, article_ids: Sequence[str]) -> int:
    """Remove these articles from every saved search's matches, details included (a takedown:
    shared/takedown.py); return how many matches went."""
    ids = list(article_ids)
    search_ids: list[str] = redis_client.hkeys(_key(prefix, "searches"))  # type: ignore[assignment]
    if not ids or not search_ids:
        return 0
    pipe = redis_client.pipeline(transaction=False)
    for search_id in search_ids:
        pipe.zrem(_key(prefix, search_id, "matches"), *ids)
        pipe.hdel(_key(prefix, search_id, "articles"), *ids)
    return sum(int(removed) for removed in pipe.execute()[::2])


def claim_spike(redis_client: redis.Redis, prefix: str, search_id: str, cooldown_s: int) -> bool:
    """Whether a spike alert of this saved search may go now: True at most once per
    ``cooldown_s`` (every worker asks the same key; the first wins)."""
    if cooldown_s <= 0:
        return True
    return bool(
        redis_client.set(_key(prefix, search_id, "spike", "cooldown"), "1", nx=True, ex=cooldown_s)
    )


def set_spike(
    redis_client: redis.Redis, prefix: str, search_id: str, spike: Mapping[str, Any]
) -> None:
    """Remember the last spike alert, for the saved search's page (not for deleted ones)."""
    if not redis_client.hexists(_key(prefix, "searches"), search_id):
        return
    fields: dict[str | bytes, str] = {"at": _iso(datetime.now(UTC))}
    fields.update(
        (name, str(value)) for name, value in spike.items() if not isinstance(value, dict)
    )
    redis_client.hset(_key(prefix, search_id, "spike"), mapping=fields)  # type: ignore[arg-type]


def get_spike(redis_client: redis.Redis, prefix: str, search_id: str) -> dict[str, str] | None:
    raw: dict[str, str] = redis_client.hgetall(_key(prefix, search_id, "spike"))  # type: ignore[assignment]
    return raw or None
