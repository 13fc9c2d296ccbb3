"""What an error from Elasticsearch, Redis or the broker means for the batch that met it.

Every exception that leaves ``worker.pipeline.process_batch`` is classified here, so the task
can choose one of: retry the batch with backoff (the error is an answer or an outage that
passes), or stop retrying it as a whole (the error is about what the batch holds: split it to
find the article, or dead-letter that one article with the reason). Nothing is left to Celery's
default, which acknowledges a failed task and so loses its articles.
"""

from __future__ import annotations

from dataclasses import dataclass

from elastic_transport import SerializationError
from elasticsearch import ApiError
from elasticsearch import ConnectionError as ESConnectionError
from elasticsearch import ConnectionTimeout as ESConnectionTimeout
from elasticsearch import TransportError as ESTransportError
from kombu.exceptions import OperationalError
from redis.exceptions import BusyLoadingError, OutOfMemoryError, ReadOnlyError, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


@dataclass(frozen=True)
class Failure:
    """``kind`` is a fixed name (a metrics label and the start of a dead letter's reason);
    ``transient`` says whether the same request can succeed later."""

    kind: str
    transient: bool
    reason: str


# Every kind classify() can answer, for metrics labels (a fixed set).
KINDS = (
    "es_connection",
    "es_timeout",
    "es_429",
    "es_circuit_breaker",
    "es_no_master",
    "es_5xx",
    "es_index_missing",
    "es_rejected",
    "es_serialization",
    "redis_connection",
    "redis_timeout",
    "redis_loading",
    "redis_oom",
    "redis_readonly",
    "redis_error",
    "broker",
    "unexpected",
)

_NO_MASTER = ("master_not_discovered", "no_master", "cluster_block_exception")


def _es_kind(error: ApiError) -> tuple[str, bool]:
    status = error.status_code
    body = str(error.body)[:2000]
    if status == 429:
        return ("es_circuit_breaker" if "circuit_breaking" in body else "es_429"), True
    if status == 503 and any(marker in body for marker in _NO_MASTER):
        return "es_no_master", True
    if status >= 500 or status == 408:
        return "es_5xx", True
    if status == 404 and "index_not_found" in body:
        # An alias switched by `newsroom reindex` between two requests, or an index being
        # created by another worker: the next attempt finds it.
        return "es_index_missing", True
    # 400 (a mapping the index refuses, a request too large, ...), 401/403: the same request
    # gets the same answer.
    return "es_rejected", False


def classify(error: BaseException) -> Failure:
    """The kind of ``error`` and whether retrying the same batch can help."""
    kind: str
    transient: bool
    if isinstance(error, ApiError):
        kind, transient = _es_kind(error)
    elif isinstance(error, SerializationError):
        kind, transient = "es_serialization", False
    elif isinstance(error, ESConnectionTimeout):
        kind, transient = "es_timeout", True
    elif isinstance(error, (ESConnectionError, ESTransportError)):
        kind, transient = "es_connection", True
    elif isinstance(error, OutOfMemoryError):
        # Redis at maxmemory (noeviction): writes are refused until workers drain the queue
        # or someone makes room; nothing written is lost.
        kind, transient = "redis_oom", True
    elif isinstance(error, ReadOnlyError):
        kind, transient = "redis_readonly", True  # a replica during a fail-over
    elif isinstance(error, BusyLoadingError):
        kind, transient = "redis_loading", True  # restarted, still reading its AOF
    elif isinstance(error, RedisTimeoutError):
        kind, transient = "redis_timeout", True
    elif isinstance(error, RedisConnectionError):
        kind, transient = "redis_connection", True
    elif isinstance(error, RedisError):
        # Other replies (MISCONF when the disk is full, ...) are the server's state too.
        kind, transient = "redis_error", True
    elif isinstance(error, OperationalError):
        kind, transient = "broker", True
    else:
        kind, transient = "unexpected", False
    return Failure(kind, transient, f"{kind}: {type(error).__name__}: {_detail(error)[:500]}")


def _detail(error: BaseException) -> str:
    """What the error says; for an Elasticsearch answer, its status, type and reason."""
    if isinstance(error, ApiError):
        cause = error.body.get("error") if isinstance(error.body, dict) else None
        if isinstance(cause, dict):
            return f"{error.status_code} {cause.get('type')}: {cause.get('reason')}"
        return f"{error.status_code}: {str(error.body)[:300]}"
    return str(error) or repr(error)
