"""Where each article stands (``queued``, ``indexed``, ``failed``), kept in Redis by id."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

import redis

State = Literal["queued", "indexed", "failed"]


def _key(prefix: str, article_id: str) -> str:
    return f"{prefix}:article:{article_id}"


def set_states(
    client: redis.Redis,
    prefix: str,
    states: Iterable[tuple[str, State, str | None]],
    ttl_s: int,
) -> None:
    """Record ``(article_id, state, error)`` for many articles in one round trip."""
    pipe = client.pipeline(transaction=False)
    queue_state_records(pipe, prefix, states, ttl_s)
    pipe.execute()


def queue_state_records(
    pipe: redis.client.Pipeline,
    prefix: str,
    states: Iterable[tuple[str, State, str | None]],
    ttl_s: int,
) -> None:
    """Add the writes of ``set_states`` to ``pipe``, to go with the caller's own commands."""
    now = datetime.now(UTC).isoformat()
    for article_id, state, error in states:
        key = _key(prefix, article_id)
        pipe.hset(key, mapping={"state": state, "updated_at": now, "error": error or ""})
        pipe.expire(key, ttl_s)


def delete_states(client: redis.Redis, prefix: str, article_ids: Iterable[str]) -> int:
    """Forget the records of these articles (a takedown: shared/takedown.py); return how many
    existed."""
    keys = [_key(prefix, article_id) for article_id in article_ids]
    return int(client.delete(*keys)) if keys else 0


def get_state(client: redis.Redis, prefix: str, article_id: str) -> dict[str, str] | None:
    found: dict[str, str] = client.hgetall(_key(prefix, article_id))  # type: ignore[assignment]
    return found or None


def get_states(
    client: redis.Redis, prefix: str, article_ids: Iterable[str]
) -> list[dict[str, str] | None]:
    """The records of many articles in one round trip, in order (``None`` where none is)."""
    pipe = client.pipeline(transaction=False)
    for article_id in article_ids:
        pipe.hgetall(_key(prefix, article_id))
    return [found or None for found in pipe.execute()]
