"""Dead letters: articles that could not be indexed after every attempt, kept with their payload
and the last error until someone replays or drops them.

Stored in Redis beside the queue (AOF, ``noeviction``), so a dead letter is as durable as an
accepted article: a hash ``<prefix>:deadletters`` maps article id to the JSON record and a
sorted set ``<prefix>:deadletters:by-time`` orders them by when they failed. They never expire:
losing one silently is what this store exists to prevent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import redis


@dataclass(frozen=True)
class DeadLetter:
    id: str
    error: str
    attempts: int
    failed_at: float  # Unix time
    payload: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        """What a listing shows: no payload (it can be megabytes)."""
        return {
            "id": self.id,
            "error": self.error,
            "attempts": self.attempts,
            "failed_at": self.failed_at,
            "title": self.payload.get("title"),
            "source": self.payload.get("source"),
        }


def _records_key(prefix: str) -> str:
    return f"{prefix}:deadletters"


def _order_key(prefix: str) -> str:
    return f"{prefix}:deadletters:by-time"


def add_dead_letters(
    client: redis.Redis, prefix: str, letters: Iterable[tuple[dict[str, Any], str, int]]
) -> list[str]:
    """Store ``(payload, last error, attempts)`` records atomically; return their ids.

    An article dead-lettered again replaces its earlier record (one per id)."""
    now = time.time()
    pipe = client.pipeline(transaction=True)
    ids = []
    for payload, error, attempts in letters:
        letter = DeadLetter(payload["id"], error, attempts, now, payload)
        pipe.hset(_records_key(prefix), letter.id, json.dumps(asdict(letter)))
        pipe.zadd(_order_key(prefix), {letter.id: now})
        ids.append(letter.id)
    if ids:
        pipe.execute()
    return ids


def count_dead_letters(client: redis.Redis, prefix: str) -> int:
    return int(client.hlen(_records_key(prefix)))


def get_dead_letters(client: redis.Redis, prefix: str, ids: Sequence[str]) -> list[DeadLetter]:
    """The records of ``ids`` that exist, in the order asked."""
    if not ids:
        return []
    raw: list[str | None] = client.hmget(_records_key(prefix), list(ids))  # type: ignore[assignment]
    return [DeadLetter(**json.loads(item)) for item in raw if item is not None]


def list_dead_letters(
    client: redis.Redis, prefix: str, *, offset: int = 0, limit: int | None = None
) -> list[DeadLetter]:
    """Dead letters, oldest first."""
    end = -1 if limit is None else offset + limit - 1
    ids: list[str] = client.zrange(_order_key(prefix), offset, end)  # type: ignore[assignment]
    return get_dead_letters(client, prefix, ids)


def newest_dead_letters(client: redis.Redis, prefix: str, limit: int) -> list[DeadLetter]:
    """The ``limit`` latest dead letters, newest first (the pipeline page)."""
    ids: list[str] = client.zrevrange(_order_key(prefix), 0, limit - 1)  # type: ignore[assignment]
    return get_dead_letters(client, prefix, ids)


def remove_dead_letters(client: redis.Redis, prefix: str, ids: Sequence[str]) -> int:
    """Drop these records (after a replay has queued them again); return how many existed."""
    if not ids:
        return 0
    pipe = client.pipeline(transaction=True)
    pipe.hdel(_records_key(prefix), *ids)
    pipe.zrem(_order_key(prefix), *ids)
    removed, _ = pipe.execute()
    return int(removed)
