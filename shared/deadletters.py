"""Dead letters: articles that could not be indexed after every attempt, kept with their payload
and the last error until someone replays or drops them.

Stored in Redis beside the queue (AOF, ``noeviction``), so a dead letter is as durable as an
accepted article: a hash ``<prefix>:deadletters`` maps article id to the JSON record and a
sorted set ``<prefix>:deadletters:by-time`` orders them by when they failed. They never expire:
losing one silently is what this store exists to prevent.

Their bound is a byte budget (``Settings.deadletters_max_bytes``), enforced where work comes in:
``<prefix>:deadletters:bytes`` counts the bytes of the JSON records, kept by the same Lua
scripts that write and remove them (atomic, adjusted by the difference when a record is
replaced), so ingest reads it in O(1) and refuses new articles while it is over the budget.
A dead letter is never dropped to make room.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
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


# The byte counter is (re)built from the records when it is missing (a store written before it
# existed) and reset when the store is empty (its keys deleted by hand). The first command that
# writes decides under maxmemory: refused (OOM) before anything changed, or the script runs whole.
_RESYNC = """
local count = redis.call('HLEN', KEYS[1])
if count == 0 then
  if redis.call('GET', KEYS[3]) ~= '0' then redis.call('SET', KEYS[3], 0) end
elseif redis.call('EXISTS', KEYS[3]) == 0 then
  local total = 0
  for _, id in ipairs(redis.call('HKEYS', KEYS[1])) do
    total = total + redis.call('HSTRLEN', KEYS[1], id)
  end
  redis.call('SET', KEYS[3], total)
end
"""

# KEYS: records, order, bytes. ARGV: failed_at, then id and record for each letter.
_ADD = (
    _RESYNC
    + """
local delta = 0
for i = 2, #ARGV, 2 do
  delta = delta + string.len(ARGV[i + 1]) - redis.call('HSTRLEN', KEYS[1], ARGV[i])
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[i])
end
return redis.call('INCRBY', KEYS[3], delta)
"""
)

# KEYS: records, order, bytes. ARGV: ids. Removing frees memory, so it works at maxmemory too
# (HDEL and ZREM are allowed then; the counter's write follows a write that succeeded).
_REMOVE = """
local removed, freed = 0, 0
for _, id in ipairs(ARGV) do
  local size = redis.call('HSTRLEN', KEYS[1], id)
  if redis.call('HDEL', KEYS[1], id) == 1 then
    removed = removed + 1
    freed = freed + size
  end
  redis.call('ZREM', KEYS[2], id)
end
if freed > 0 and redis.call('EXISTS', KEYS[3]) == 1 then redis.call('DECRBY', KEYS[3], freed) end
if removed > 0 and redis.call('HLEN', KEYS[1]) == 0 then redis.call('SET', KEYS[3], 0) end
return removed
"""

# KEYS: records, bytes. The counter, rebuilt when missing (pcall: at maxmemory the sum is still
# answered, only not kept).
_RECOUNT = """
local found = redis.call('GET', KEYS[2])
if found then return tonumber(found) end
local total = 0
for _, id in ipairs(redis.call('HKEYS', KEYS[1])) do
  total = total + redis.call('HSTRLEN', KEYS[1], id)
end
redis.pcall('SET', KEYS[2], total)
return total
"""


def _records_key(prefix: str) -> str:
    return f"{prefix}:deadletters"


def _order_key(prefix: str) -> str:
    return f"{prefix}:deadletters:by-time"


def _bytes_key(prefix: str) -> str:
    return f"{prefix}:deadletters:bytes"


def encode_record(letter: DeadLetter) -> str:
    """The stored JSON: UTF-8 rather than ``\\uXXXX`` escapes (half the bytes for most
    non-Latin text), compact."""
    return json.dumps(asdict(letter), ensure_ascii=False, separators=(",", ":"))


def add_dead_letters(
    client: redis.Redis, prefix: str, letters: Iterable[tuple[Mapping[str, Any], str, int]]
) -> list[str]:
    """Store ``(payload, last error, attempts)`` records atomically; return their ids.

    An article dead-lettered again replaces its earlier record (one per id). Always stored,
    whatever the byte budget: the budget stops ingest, never a dead letter. Raises
    ``redis.RedisError`` (``OutOfMemoryError`` at maxmemory) when Redis cannot take them; then
    none was stored."""
    now = time.time()
    args: list[str | float] = [now]
    ids = []
    for payload, error, attempts in letters:
        letter = DeadLetter(payload["id"], error, attempts, now, dict(payload))
        args += [letter.id, encode_record(letter)]
        ids.append(letter.id)
    if ids:
        keys = [_records_key(prefix), _order_key(prefix), _bytes_key(prefix)]
        client.register_script(_ADD)(keys=keys, args=args)
    return ids


def count_dead_letters(client: redis.Redis, prefix: str) -> int:
    return int(client.hlen(_records_key(prefix)))


def queue_size_reads(pipe: redis.client.Pipeline, prefix: str) -> None:
    """Add the two reads ``size_from_reads`` needs to ``pipe`` (the caller's round trip)."""
    pipe.get(_bytes_key(prefix))
    pipe.hlen(_records_key(prefix))


def size_from_reads(client: redis.Redis, prefix: str, counter: Any, count: Any) -> int:
    """Bytes of the store from the replies of ``queue_size_reads`` (their counter missing:
    rebuilt once, O(records))."""
    if not int(count):
        return 0
    if counter is None:
        keys = [_records_key(prefix), _bytes_key(prefix)]
        return int(client.register_script(_RECOUNT)(keys=keys))
    return int(counter)


def dead_letter_bytes(client: redis.Redis, prefix: str) -> int:
    """Bytes of the stored records: what ``Settings.deadletters_max_bytes`` bounds."""
    pipe = client.pipeline(transaction=False)
    queue_size_reads(pipe, prefix)
    counter, count = pipe.execute()
    return size_from_reads(client, prefix, counter, count)


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
    keys = [_records_key(prefix), _order_key(prefix), _bytes_key(prefix)]
    return int(client.register_script(_REMOVE)(keys=keys, args=list(ids)))
