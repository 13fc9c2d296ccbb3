"""How many times a task message was delivered without finishing, and the step it was in.

Celery gives a message back when its worker process dies (``reject_on_worker_lost``: the OOM
killer, a segfault in a model) or overruns the hard time limit (``acks_on_timeout`` off), with
the same task id and retry count. Without a record, a batch that kills its worker comes back
forever. Each delivery of ``(task id, retries)`` counts itself here as it starts and clears the
record when it ends; a count above one means the earlier deliveries were lost mid-work. The task
then splits the batch (to find the article that does it) and dead-letters a single article once
it has been lost with its worker ``task_max_lost_deliveries`` times.

One hash per running task, ``<prefix>:delivery:<task id>:<retries>``, with fields ``count``
and ``step``; it expires after ``ttl_s`` (bounded even when a task never ends).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    key: str
    count: int  # this delivery's number: 1 the first time
    last_step: str | None  # where the previous delivery was when it was lost

    @property
    def lost_before(self) -> int:
        return self.count - 1


def delivery_key(prefix: str, task_id: str, retries: int) -> str:
    return f"{prefix}:delivery:{task_id}:{retries}"


def begin(client: redis.Redis, prefix: str, task_id: str, retries: int, ttl_s: int) -> Delivery:
    """Count this delivery (one round trip). Raises RedisError: the task retries."""
    key = delivery_key(prefix, task_id, retries)
    pipe = client.pipeline(transaction=True)
    pipe.hincrby(key, "count", 1)
    pipe.hget(key, "step")
    pipe.expire(key, ttl_s)
    count, step, _ = pipe.execute()
    return Delivery(key, int(count), step.decode() if isinstance(step, bytes) else step)


def record_step(client: redis.Redis, key: str, step: str) -> None:
    """Where the delivery is now. Best effort: progress never fails the work it describes."""
    try:
        client.hset(key, "step", step)
    except RedisError:
        log.warning("delivery progress not recorded", extra={"step": step})


def current_step(client: redis.Redis, key: str) -> str | None:
    """The step recorded last (None when Redis cannot say)."""
    try:
        step = client.hget(key, "step")
    except RedisError:
        return None
    return step.decode() if isinstance(step, bytes) else (str(step) if step else None)


def finish(client: redis.Redis, key: str) -> None:
    """The delivery ended (indexed, retried, split or dead-lettered): forget it. Best effort:
    a record left behind expires, and only a redelivery of the same message would read it."""
    try:
        client.delete(key)
    except RedisError:
        log.warning("delivery record not cleared", extra={"key": key})
