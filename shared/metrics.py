"""Pipeline-wide metrics, kept in Redis and exposed as Prometheus text by any ``/metrics``.

Why Redis rather than prometheus_client's registries: ingest and web each run several gunicorn
workers and the Celery worker several processes, on one host or several. Per-process counters
would tell each scrape the story of whichever process answered; prometheus_client's
multiprocess mode fixes that for one host only, needs a shared directory wiped at every start
and cannot see a worker on another machine. One Redis hash of counters, written with
``HINCRBY`` in a single pipelined round trip per batch (and at most once a second per HTTP
process), is shared by every process of every service, survives restarts (AOF) and is read
back in one round trip per scrape. prometheus_client still writes the exposition format
(``render``).

Layout, under ``<prefix>:metrics:``:
- ``counters``: field ``["name", [[label, value], ...]]`` (JSON) -> total;
- ``histograms``: field ``["name", [[label, value], ...], "<le>" | "sum"]`` -> the
  observations that fell in that bucket (not cumulative: one ``HINCRBY`` per observation);
- ``minute:<unix minute>``: per-minute counts of the pipeline's main counters, expiring after
  ``SERIES_TTL_S`` (the pipeline page's throughput chart, `newsroom status` rates);
- ``failures``: the latest ``RECENT_FAILURES`` failed attempts (JSON), newest first.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import redis
from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

NAMESPACE = "newsroom_"
# The classic text format (what ``generate_latest`` writes), which every Prometheus reads.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
SERIES_TTL_S = 3 * 3600
RECENT_FAILURES = 50

_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Label values come from fixed sets: each distinct value is a Redis field kept for good and a
# series every scrape carries, so nothing a client sends may become one. HTTP endpoints are
# the Flask view names ("unmatched" without a route: the raw path never is a label), methods
# the standard ones, statuses the registered codes.
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_HTTP_STATUSES = frozenset(status.value for status in HTTPStatus)
OTHER = "other"


def http_method_label(method: str) -> str:
    """The method as a label: one of ``HTTP_METHODS``, else "other" (``FOOBAR /``)."""
    return method if method in HTTP_METHODS else OTHER


def http_status_label(status: int) -> str:
    """The status code as a label: a registered code, else "other"."""
    return str(status) if status in _HTTP_STATUSES else OTHER


@dataclass(frozen=True)
class Counter:
    name: str  # without the namespace and the "_total" suffix
    help: str
    labels: tuple[str, ...] = ()
    # The field of the per-minute series this counter also adds to, if any.
    series: str | None = None


@dataclass(frozen=True)
class Histogram:
    name: str
    help: str
    buckets: tuple[float, ...]
    labels: tuple[str, ...] = ()


ACCEPTED = Counter(
    "articles_accepted", "Articles accepted by POST /articles (answered 202).", series="accepted"
)
REJECTED = Counter(
    "articles_rejected",
    "Items of POST /articles refused as invalid (listed under 'rejected', or a 422).",
    series="rejected",
)
INGEST_REFUSED = Counter(
    "ingest_refused_requests",
    "POST /articles requests refused whole: backlog (429, Retry-After) or unavailable (503).",
    labels=("reason",),
)
QUEUED = Counter(
    "articles_queued",
    "Articles sent to the queue: by ingest, by a dead-letter replay, or again after a failed "
    "attempt (retry).",
    labels=("origin",),
)
ENRICHED = Counter("articles_enriched", "Articles that went through every enrichment step.")
INDEXED = Counter(
    "articles_indexed", "Articles written to Elasticsearch by a worker.", series="indexed"
)
SUPERSEDED = Counter(
    "articles_superseded",
    "Articles not written because the index already held a newer version of them.",
)
FAILED = Counter(
    "articles_failed",
    "Failed attempts at an article (enrichment raised, or Elasticsearch refused it); each is "
    "retried or dead-lettered.",
    labels=("stage",),
    series="failed",
)
DEAD_LETTERED = Counter(
    "articles_dead_lettered",
    "Articles moved to the dead letters after their last attempt.",
    series="dead_lettered",
)
BATCHES = Counter("batches_processed", "Batches a worker enriched and indexed.")
BATCH_RETRIES = Counter(
    "batch_retries", "Batches retried whole because Elasticsearch or Redis was unreachable."
)
HTTP_REQUESTS = Counter(
    "http_requests",
    "HTTP requests answered, by service, endpoint (the Flask view, or unmatched), method (GET, "
    "HEAD, POST, PUT, PATCH, DELETE, OPTIONS or other) and status.",
    labels=("service", "endpoint", "method", "status"),
)

HTTP_SECONDS = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request (to the first byte of a streamed answer).",
    _HTTP_BUCKETS,
    labels=("service", "endpoint"),
)
SEARCH_SECONDS = Histogram(
    "search_duration_seconds",
    "Time of one search (query embedding and Elasticsearch), by how it ranked.",
    _HTTP_BUCKETS,
    labels=("mode",),
)
STEP_SECONDS = Histogram(
    "enrichment_step_duration_seconds",
    "Time one enrichment step took over one batch (a batch holds up to "
    "NEWSROOM_INGEST_TASK_BATCH_SIZE articles).",
    (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    labels=("step",),
)
BATCH_SECONDS = Histogram(
    "batch_duration_seconds",
    "Time a worker took to enrich and index one batch.",
    (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
)
BULK_DOCUMENTS = Histogram(
    "bulk_documents",
    "Documents sent in one _bulk request.",
    (1, 2, 5, 10, 20, 50, 100, 200, 500),
)

COUNTERS: tuple[Counter, ...] = (
    ACCEPTED,
    REJECTED,
    INGEST_REFUSED,
    QUEUED,
    ENRICHED,
    INDEXED,
    SUPERSEDED,
    FAILED,
    DEAD_LETTERED,
    BATCHES,
    BATCH_RETRIES,
    HTTP_REQUESTS,
)
HISTOGRAMS: tuple[Histogram, ...] = (
    HTTP_SECONDS,
    SEARCH_SECONDS,
    STEP_SECONDS,
    BATCH_SECONDS,
    BULK_DOCUMENTS,
)
# The fields of the per-minute series, in the order charts show them.
SERIES_FIELDS = tuple(c.series for c in COUNTERS if c.series)


def counters_key(prefix: str) -> str:
    return f"{prefix}:metrics:counters"


def histograms_key(prefix: str) -> str:
    return f"{prefix}:metrics:histograms"


def minute_key(prefix: str, minute: int) -> str:
    return f"{prefix}:metrics:minute:{minute}"


def failures_key(prefix: str) -> str:
    return f"{prefix}:metrics:failures"


def _label_pairs(names: tuple[str, ...], given: Mapping[str, str]) -> list[list[str]]:
    if set(given) != set(names):
        raise ValueError(f"expected labels {names}, got {sorted(given)}")
    return [[name, str(given[name])] for name in names]


def _bucket_label(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


class Recorder:
    """Increments gathered in memory, then written in one pipelined round trip (``commit``)."""

    def __init__(self) -> None:
        self.counters: dict[str, float] = defaultdict(float)
        self.histograms: dict[str, float] = defaultdict(float)
        self.series: dict[str, int] = defaultdict(int)
        self.failures: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.counters or self.histograms or self.failures)

    def inc(self, counter: Counter, amount: float = 1, **labels: str) -> Recorder:
        if amount:
            field = json.dumps([counter.name, _label_pairs(counter.labels, labels)])
            self.counters[field] += amount
            if counter.series:
                self.series[counter.series] += int(amount)
        return self

    def observe(self, histogram: Histogram, value: float, **labels: str) -> Recorder:
        pairs = _label_pairs(histogram.labels, labels)
        bound = next((b for b in histogram.buckets if value <= b), math.inf)
        # The count is the +Inf bucket's cumulative total: no field of its own.
        self.histograms[json.dumps([histogram.name, pairs, _bucket_label(bound)])] += 1
        self.histograms[json.dumps([histogram.name, pairs, "sum"])] += value
        return self

    def merge(self, other: Recorder) -> Recorder:
        """Add ``other``'s increments to these (a process gathering many requests')."""
        for field, amount in other.counters.items():
            self.counters[field] += amount
        for field, amount in other.histograms.items():
            self.histograms[field] += amount
        for name, count in other.series.items():
            self.series[name] += count
        self.failures.extend(other.failures)
        return self

    def failure(
        self, article_id: str, reason: str, *, stage: str, final: bool, title: str | None = None
    ) -> Recorder:
        """Remember a failed attempt for the pipeline page (the newest ``RECENT_FAILURES``)."""
        record = {
            "id": article_id,
            "title": title,
            "stage": stage,
            "final": final,
            "reason": reason[:500],
            "at": time.time(),
        }
        self.failures.append(json.dumps(record, ensure_ascii=False))
        return self

    def queue(self, pipe: Any, prefix: str, now: float | None = None) -> None:
        """Add the writes to ``pipe`` (a Redis pipeline), to go with other commands."""
        for field, amount in self.counters.items():
            if float(amount).is_integer():
                pipe.hincrby(counters_key(prefix), field, int(amount))
            else:
                pipe.hincrbyfloat(counters_key(prefix), field, amount)
        for field, amount in self.histograms.items():
            if field.endswith('"sum"]'):
                pipe.hincrbyfloat(histograms_key(prefix), field, amount)
            else:
                pipe.hincrby(histograms_key(prefix), field, int(amount))
        if self.series:
            key = minute_key(prefix, int((now or time.time()) // 60))
            for name, amount in self.series.items():
                pipe.hincrby(key, name, amount)
            pipe.expire(key, SERIES_TTL_S)
        if self.failures:
            pipe.lpush(failures_key(prefix), *reversed(self.failures))
            pipe.ltrim(failures_key(prefix), 0, RECENT_FAILURES - 1)

    def commit(self, client: redis.Redis, prefix: str, now: float | None = None) -> None:
        """Write everything in one round trip; raises ``redis.RedisError``."""
        if not self:
            return
        pipe = client.pipeline(transaction=False)
        self.queue(pipe, prefix, now)
        pipe.execute()


def commit_quietly(recorder: Recorder, client: redis.Redis, prefix: str) -> bool:
    """Metrics must never fail the work they count: a Redis error is logged, not raised."""
    try:
        recorder.commit(client, prefix)
    except (redis.RedisError, OSError) as error:
        log.warning("metrics not recorded: %s", error)
        return False
    return True


# --- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Totals:
    counters: dict[str, str]
    histograms: dict[str, str]

    def counter(self, counter: Counter, **labels: str) -> float:
        """The total of one counter; labels not given are summed over."""
        total = 0.0
        for field, value in self.counters.items():
            name, pairs = json.loads(field)
            if name == counter.name and all(
                dict(pairs).get(key) == wanted for key, wanted in labels.items()
            ):
                total += float(value)
        return total


def read_totals(client: redis.Redis, prefix: str) -> Totals:
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(counters_key(prefix))
    pipe.hgetall(histograms_key(prefix))
    counters, histograms = pipe.execute()
    return Totals(dict(counters), dict(histograms))


def read_series(
    client: redis.Redis, prefix: str, minutes: int, now: float | None = None
) -> list[dict[str, Any]]:
    """The per-minute counts of the last ``minutes`` minutes (the current one last, partial)."""
    current = int((now or time.time()) // 60)
    first = current - minutes + 1
    pipe = client.pipeline(transaction=False)
    for minute in range(first, current + 1):
        pipe.hgetall(minute_key(prefix, minute))
    series = []
    for minute, found in zip(range(first, current + 1), pipe.execute(), strict=True):
        row: dict[str, Any] = {"minute": minute * 60}
        row |= {name: int(found.get(name, 0)) for name in SERIES_FIELDS}
        series.append(row)
    return series


def recent_failures(client: redis.Redis, prefix: str, limit: int = 10) -> list[dict[str, Any]]:
    raw: list[str] = client.lrange(failures_key(prefix), 0, limit - 1)  # type: ignore[assignment]
    return [json.loads(item) for item in raw]


def _parse_label_fields(
    raw: Mapping[str, str], known: Iterable[str]
) -> Iterator[tuple[str, tuple[tuple[str, str], ...], list[Any], float]]:
    names = set(known)
    for field, value in raw.items():
        try:
            parts = json.loads(field)
            name, pairs = parts[0], tuple((str(k), str(v)) for k, v in parts[1])
        except (ValueError, TypeError, IndexError):
            continue  # not ours: never let one odd field break the scrape
        if name in names:
            yield name, pairs, parts[2:], float(value)


def metric_families(totals: Totals) -> list[Metric]:
    """Counters and histograms as prometheus_client families. Counters without labels are
    always present (0 before anything happened), so dashboards and alerts see them."""
    families: list[Metric] = []
    by_counter: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
    for name, pairs, _, value in _parse_label_fields(totals.counters, (c.name for c in COUNTERS)):
        by_counter[name][pairs] = by_counter[name].get(pairs, 0.0) + value
    for counter in COUNTERS:
        family = CounterMetricFamily(
            NAMESPACE + counter.name, counter.help, labels=list(counter.labels)
        )
        series = by_counter.get(counter.name, {})
        if not counter.labels and not series:
            series = {(): 0.0}
        for pairs, value in sorted(series.items()):
            family.add_metric([value for _, value in pairs], value)
        families.append(family)

    # name -> labels -> {"le": {bound: n}, "sum": x}
    by_histogram: dict[str, dict[tuple[tuple[str, str], ...], dict[str, Any]]] = defaultdict(dict)
    known = {h.name: h for h in HISTOGRAMS}
    for name, pairs, rest, value in _parse_label_fields(totals.histograms, known):
        if len(rest) != 1:
            continue
        entry = by_histogram[name].setdefault(pairs, {"le": {}, "sum": 0.0})
        if rest[0] == "sum":
            entry["sum"] += value
        else:
            entry["le"][str(rest[0])] = entry["le"].get(str(rest[0]), 0.0) + value
    for histogram in HISTOGRAMS:
        histogram_family = HistogramMetricFamily(
            NAMESPACE + histogram.name, histogram.help, labels=list(histogram.labels)
        )
        for pairs, entry in sorted(by_histogram.get(histogram.name, {}).items()):
            cumulative, buckets = 0.0, []
            for bound in (*histogram.buckets, math.inf):
                cumulative += entry["le"].get(_bucket_label(bound), 0.0)
                buckets.append((_bucket_label(bound), cumulative))
            histogram_family.add_metric([value for _, value in pairs], buckets, entry["sum"])
        families.append(histogram_family)
    return families


class _Families(Collector):
    def __init__(self, families: Sequence[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def render(families: Sequence[Metric]) -> bytes:
    """The Prometheus text exposition of ``families``."""
    return generate_latest(_Families(families))
