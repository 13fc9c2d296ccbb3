"""Limits per webhook destination (``host:port``), shared by every worker through Redis.

- **Concurrency**: at most ``limit`` deliveries to one destination at once. A counting
  semaphore: a sorted set of holders scored by the time their slot expires, so a worker that
  dies holding a slot loses it after ``lease_s`` (longer than any delivery may take).
- **Circuit breaker**: after ``threshold`` failed deliveries in a row (timeouts, connection
  errors, 5xx, 429) the destination is *open* for ``cooldown_s``: deliveries are not
  attempted. After the cool-down one *trial* delivery goes (the others still wait); its
  success closes the breaker, its failure opens it for another cool-down. A destination that
  answers (even 4xx) is up.

Both are written by hand as two small Lua scripts: redis-py ships a mutex (``Lock``), not a
counting semaphore or a breaker, and the check-then-take of each must be atomic across
workers. Time is Redis's own (``TIME``), one clock for every worker. Keys, per destination:
``<prefix>:webhook:<host:port>:slots`` (at most ``limit`` members, expiring ``lease_s`` after
the last slot taken) and ``<prefix>:webhook:<host:port>:breaker`` (a hash: ``failures``,
``open_until``, ``trial_until``; it expires ``BREAKER_MEMORY_S`` after the last failure, or
at once on a success).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Literal

import redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# How long failures in a row are remembered after the last one (then the count starts again).
BREAKER_MEMORY_S = 3600

Verdict = Literal["go", "busy", "open"]
Outcome = Literal["up", "down", "neutral"]

# KEYS: slots, breaker. ARGV: limit, lease (ms), token.
# Returns {verdict, wait in ms, trial (0/1)}.
_ADMIT = """
local slots, breaker = KEYS[1], KEYS[2]
local limit, lease, token = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local trial = 0
local open_until = tonumber(redis.call('HGET', breaker, 'open_until') or '0')
if open_until > 0 then
  if now < open_until then return {'open', open_until - now, 0} end
  local trial_until = tonumber(redis.call('HGET', breaker, 'trial_until') or '0')
  if now < trial_until then return {'open', trial_until - now, 0} end
  trial = 1
end
redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
if redis.call('ZCARD', slots) >= limit then return {'busy', 0, 0} end
redis.call('ZADD', slots, now + lease, token)
redis.call('PEXPIRE', slots, lease)
if trial == 1 then
  redis.call('HSET', breaker, 'trial_until', now + lease)
  if redis.call('PTTL', breaker) < lease then redis.call('PEXPIRE', breaker, lease) end
end
return {'go', 0, trial}
"""

# KEYS: slots, breaker. ARGV: token, outcome (up/down/neutral), threshold, cool-down (ms),
# memory (ms). Returns {failures in a row, open (0/1)}.
_FINISH = """
local slots, breaker = KEYS[1], KEYS[2]
local token, outcome = ARGV[1], ARGV[2]
local threshold, cooldown, memory = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
redis.call('ZREM', slots, token)
if outcome == 'up' then
  redis.call('DEL', breaker)
  return {0, 0}
end
redis.call('HDEL', breaker, 'trial_until')
if outcome ~= 'down' then
  return {tonumber(redis.call('HGET', breaker, 'failures') or '0'), 0}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local failures = redis.call('HINCRBY', breaker, 'failures', 1)
local opened = 0
if failures >= threshold then
  redis.call('HSET', breaker, 'open_until', now + cooldown)
  opened = 1
end
redis.call('PEXPIRE', breaker, cooldown + memory)
return {failures, opened}
"""


@dataclass(frozen=True)
class Admission:
    verdict: Verdict  # go: deliver now; busy: no free slot; open: the breaker is open
    token: str  # the slot held, to give back with ``finish``
    trial: bool  # the one delivery after a cool-down
    wait_s: float  # open: how long until a trial may go


@dataclass(frozen=True)
class Finished:
    failures: int  # failed deliveries in a row, this one included
    opened: bool  # the breaker is open (again) after this one


def _keys(prefix: str, destination: str) -> list[str]:
    return [f"{prefix}:webhook:{destination}:slots", f"{prefix}:webhook:{destination}:breaker"]


def admit(
    redis_client: redis.Redis, prefix: str, destination: str, *, limit: int, lease_s: float
) -> Admission:
    """Ask to deliver to ``destination`` now. ``go`` holds a slot until ``finish`` (or until
    ``lease_s`` passes)."""
    token = uuid.uuid4().hex
    script = redis_client.register_script(_ADMIT)
    verdict, wait_ms, trial = script(
        keys=_keys(prefix, destination), args=[limit, int(lease_s * 1000), token]
    )
    if isinstance(verdict, bytes):
        verdict = verdict.decode()
    return Admission(str(verdict), token, bool(trial), int(wait_ms) / 1000)  # type: ignore[arg-type]


def finish(
    redis_client: redis.Redis,
    prefix: str,
    destination: str,
    token: str,
    outcome: Outcome,
    *,
    threshold: int,
    cooldown_s: float,
) -> Finished | None:
    """Give the slot back and record how the delivery went: ``up`` (the receiver answered),
    ``down`` (timeout, connection error, 5xx, 429) or ``neutral`` (not contacted). Never
    raises: the delivery is over, and a slot not given back expires with its lease."""
    script = redis_client.register_script(_FINISH)
    try:
        failures, opened = script(
            keys=_keys(prefix, destination),
            args=[token, outcome, threshold, int(cooldown_s * 1000), BREAKER_MEMORY_S * 1000],
        )
    except RedisError:
        log.warning("webhook slot not given back (it expires)", extra={"host": destination})
        return None
    return Finished(int(failures), bool(opened))


def state(redis_client: redis.Redis, prefix: str, destination: str) -> dict[str, str]:
    """The breaker's fields (empty when closed with no failure), for tests and operators."""
    raw: dict[str, str] = redis_client.hgetall(_keys(prefix, destination)[1])  # type: ignore[assignment]
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in raw.items()
    }
