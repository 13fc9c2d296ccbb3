"""Backpressure: how full Redis is, read cheaply before a POST is accepted.

Ingest refuses new articles, rather than let Redis fill up and lose something, while any of
these is over its limit (``refusal``):

- Redis's memory against its ``maxmemory`` (``INFO memory``): over the high-water fraction,
  503. The rest stays free for the workers, whose own writes (taking a message into the
  broker's ``unacked`` hash, status records, dead letters) must not meet an ``OOM`` reply;
- the dead letters' bytes against their budget (a counter kept by ``shared/deadletters.py``):
  503, until someone replays or drops them; a dead letter is never dropped to make room;
- the tasks waiting in the queue (``LLEN``) and the bytes they take (``MEMORY USAGE <queue>
  SAMPLES 0``: what the list's nodes take in Redis, exact; it walks the list's nodes, at
  most one per task, so it costs microseconds at the task limit): 429, until workers catch up.

All of it is one pipelined round trip (two when the broker is not the status Redis), which
replaced the ``LLEN`` alone. A reading under every limit is reused by this process for
``MAX_AGE_S`` (a round trip per request was 7-12% of a single-article POST); one at or over
a limit is read again each time, so a drained queue is seen at once. What this process pushes
is added to its reading at once (``note_pushed``): the ``LPUSH`` reply is the new depth.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import Any

import redis

from shared.deadletters import queue_size_reads, size_from_reads
from shared.http import ApiError
from shared.settings import Settings

MAX_AGE_S = 0.1

_MB = 1024 * 1024


@dataclass(frozen=True)
class Load:
    queued_tasks: int
    queued_bytes: int  # Redis memory taken by the queue's list
    used_memory: int  # what Redis counts against maxmemory (the fuller server, if two)
    max_memory: int  # its maxmemory; 0: none set
    dead_letter_bytes: int
    read_at: float = 0.0
    # Estimated from the tasks: what this process queues, per task, on average.
    queued_articles: float = 0.0


_loads: dict[tuple[int, int, str, str], Load] = {}
_lock = threading.Lock()
# Articles and tasks this process has queued, per queue: a task holds from one article (a
# single POST) to the batch size, and the reservation below needs articles.
_pushed: dict[str, tuple[int, int]] = {}


def articles_per_task(queue: str, default: int) -> float:
    """What a task of ``queue`` holds on average, as far as this process has seen; ``default``
    (the batch size: the most) before it has queued any."""
    articles, tasks = _pushed.get(queue, (0, 0))
    return articles / tasks if tasks else float(default)


def _memory(info: Any) -> tuple[int, int]:
    """``(counted, maxmemory)`` from ``INFO memory``; ``(0, 0)`` when Redis would not say
    (a managed Redis may refuse INFO): the other limits still hold then."""
    if not isinstance(info, dict):
        return 0, 0
    # Redis leaves the AOF and replication buffers out of its maxmemory check.
    counted = int(info.get("used_memory", 0)) - int(info.get("mem_not_counted_for_evict", 0))
    return counted, int(info.get("maxmemory", 0))


def _fuller(first: tuple[int, int], second: tuple[int, int]) -> tuple[int, int]:
    def fraction(reading: tuple[int, int]) -> float:
        return reading[0] / reading[1] if reading[1] else 0.0

    return first if fraction(first) >= fraction(second) else second


def read_load(broker: redis.Redis, store: redis.Redis, queue: str, prefix: str) -> Load:
    """Read everything ``refusal`` judges; raises ``redis.RedisError`` when Redis cannot be
    asked (a refused ``INFO`` or ``MEMORY`` counts as unknown, not as an error)."""
    pipe = broker.pipeline(transaction=False)
    pipe.llen(queue)
    pipe.memory_usage(queue, samples=0)
    pipe.info("memory")
    if store is broker:
        queue_size_reads(pipe, prefix)
    replies = pipe.execute(raise_on_error=False)
    for reply in replies[:1] + replies[3:]:  # LLEN, GET, HLEN: errors that matter
        if isinstance(reply, Exception):
            raise reply
    tasks, queue_bytes, info = replies[:3]
    memory = _memory(info)
    if store is broker:
        counter, count = replies[3:]
    else:
        pipe = store.pipeline(transaction=False)
        pipe.info("memory")
        queue_size_reads(pipe, prefix)
        store_info, counter, count = pipe.execute(raise_on_error=False)
        for reply in (counter, count):
            if isinstance(reply, Exception):
                raise reply
        memory = _fuller(memory, _memory(store_info))
    return Load(
        queued_tasks=int(tasks),
        queued_bytes=int(queue_bytes) if isinstance(queue_bytes, int) else 0,
        used_memory=memory[0],
        max_memory=memory[1],
        dead_letter_bytes=size_from_reads(store, prefix, counter, count),
        read_at=time.monotonic(),
    )


def current_load(broker: redis.Redis, store: redis.Redis, queue: str, settings: Settings) -> Load:
    """``read_load``, or this process's reading of less than ``MAX_AGE_S`` ago while it was
    under every limit."""
    key = (id(broker), id(store), queue, settings.index_prefix)
    cached = _loads.get(key)
    if (
        cached is not None
        and time.monotonic() - cached.read_at < MAX_AGE_S
        and refusal(cached, settings) is None
    ):
        return cached
    load = read_load(broker, store, queue, settings.index_prefix)
    per_task = articles_per_task(queue, settings.ingest_task_batch_size)
    load = replace(load, queued_articles=load.queued_tasks * per_task)
    with _lock:
        _loads[key] = load
    return load


def note_pushed(
    broker: redis.Redis,
    store: redis.Redis,
    queue: str,
    settings: Settings,
    *,
    depth: int,
    size: int,
    articles: int,
    tasks: int,
) -> None:
    """Count what this process just queued (``depth``: the ``LPUSH`` reply; ``size``: the
    messages' bytes; ``articles`` in ``tasks``) in its reading, so the next requests see it
    before the next read."""
    key = (id(broker), id(store), queue, settings.index_prefix)
    with _lock:
        done_articles, done_tasks = _pushed.get(queue, (0, 0))
        _pushed[queue] = (done_articles + articles, done_tasks + tasks)
        cached = _loads.get(key)
        if cached is not None:
            _loads[key] = replace(
                cached,
                queued_tasks=depth,
                queued_bytes=cached.queued_bytes + size,
                used_memory=cached.used_memory + size,
                queued_articles=depth * articles_per_task(queue, 1),
            )


def refusal(load: Load, settings: Settings) -> ApiError | None:
    """Why ingest must not take more now (the error to answer), or ``None``."""
    retry = settings.ingest_retry_after_s
    high_water = settings.ingest_redis_memory_high_water
    # What the articles waiting will take once indexed (status, near-duplicate index) counts
    # as used already: draining the queue must not take Redis past the high-water mark.
    reserved = int(load.queued_articles * settings.ingest_reserved_bytes_per_article)
    if load.max_memory and load.used_memory + reserved >= high_water * load.max_memory:
        return ApiError(
            503,
            "Redis memory nearly full",
            f"Redis uses {load.used_memory / _MB:.1f} MB of its maxmemory "
            f"{load.max_memory / _MB:.1f} MB, and the ~{load.queued_articles:.0f} articles "
            f"waiting will take ~{reserved / _MB:.1f} MB more once indexed; ingest takes no "
            f"more above {high_water:.0%}, so that queued work can still be done; send again "
            f"after {retry} s",
            retry_after_s=retry,
            redis_used_bytes=load.used_memory,
            redis_reserved_bytes=reserved,
            redis_max_bytes=load.max_memory,
        )
    budget = settings.deadletters_max_bytes
    if load.dead_letter_bytes >= budget:
        return ApiError(
            503,
            "Dead letters over budget",
            f"the dead letters hold {load.dead_letter_bytes / _MB:.1f} MB (budget "
            f"{budget / _MB:.1f} MB); ingest takes no more until some are replayed or dropped "
            "(`newsroom dlq`), rather than lose one",
            retry_after_s=retry,
            dead_letter_bytes=load.dead_letter_bytes,
            dead_letter_budget_bytes=budget,
        )
    limit = settings.ingest_max_queued_tasks
    if load.queued_tasks >= limit:
        return ApiError(
            429,
            "Too many queued articles",
            f"{load.queued_tasks} tasks are waiting (limit {limit}); send again after {retry} s",
            retry_after_s=retry,
            queued_tasks=load.queued_tasks,
        )
    byte_limit = settings.ingest_max_queued_bytes
    if load.queued_bytes >= byte_limit:
        return ApiError(
            429,
            "Too many queued bytes",
            f"the waiting tasks take {load.queued_bytes / _MB:.1f} MB (limit "
            f"{byte_limit / _MB:.1f} MB); send again after {retry} s",
            retry_after_s=retry,
            queued_tasks=load.queued_tasks,
            queued_bytes=load.queued_bytes,
        )
    return None
