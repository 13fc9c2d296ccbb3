"""``/metrics`` and request metrics for both Flask services (ingest, web).

Each request's metrics (its count and duration, and whatever the view noted with ``pending()``:
articles accepted, a search's latency) are added up in the process and go to Redis in one
pipelined round trip at most once a second (a thread of the process), at its exit and before
it answers ``/metrics``: a round trip per request was a quarter of a single-article POST's
CPU. A Redis failure never fails a request; what was gathered is then dropped and metrics are
skipped for a few seconds, so an outage does not add a timeout to every request.
"""

from __future__ import annotations

import atexit
import os
import threading
import time

import redis
from flask import Flask, Response, g, request

from shared import metrics
from shared.clients import get_redis
from shared.http import ApiError, app_settings
from shared.monitoring import metrics_text

# After a Redis error, this process records no metrics for this long.
PAUSE_AFTER_ERROR_S = 5.0
# How often the requests' metrics gathered in a process are written.
FLUSH_INTERVAL_S = 1.0
# Requests refused whole, counted by reason (the endpoints that refuse for backpressure).
_REFUSING_ENDPOINTS = frozenset({"ingest.post_articles"})
_REFUSALS = {429: "backlog", 503: "unavailable"}

# Per Redis client (id): when this process may record metrics for it again.
_paused_until: dict[int, float] = {}


class _Gathered:
    """The metrics of this process's requests not yet written, per Redis and prefix."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.waiting: dict[tuple[int, str], tuple[redis.Redis, str, metrics.Recorder]] = {}
        self.flusher_pid = 0

    def add(self, client: redis.Redis, prefix: str, recorder: metrics.Recorder) -> None:
        with self.lock:
            key = (id(client), prefix)
            if key in self.waiting:
                self.waiting[key][2].merge(recorder)
            else:
                self.waiting[key] = (client, prefix, recorder)
            if self.flusher_pid != os.getpid():  # the first request after start or a fork
                self.flusher_pid = os.getpid()
                threading.Thread(target=self._flush_forever, name="metrics", daemon=True).start()

    def flush(self) -> None:
        with self.lock:
            waiting, self.waiting = list(self.waiting.values()), {}
        for client, prefix, recorder in waiting:
            if not metrics.commit_quietly(recorder, client, prefix):
                _paused_until[id(client)] = time.monotonic() + PAUSE_AFTER_ERROR_S

    def _flush_forever(self) -> None:
        while True:
            time.sleep(FLUSH_INTERVAL_S)
            self.flush()


_gathered = _Gathered()
atexit.register(_gathered.flush)


def pending() -> metrics.Recorder:
    """This request's metrics, gathered with the request's own after it is answered."""
    if "newsroom_metrics" not in g:
        g.newsroom_metrics = metrics.Recorder()
    recorder: metrics.Recorder = g.newsroom_metrics
    return recorder


def _start() -> None:
    g.newsroom_started = time.perf_counter()


def _flush(service: str, response: Response) -> Response:
    started = g.pop("newsroom_started", None)
    settings = app_settings()
    client = get_redis(settings)
    if started is None or time.monotonic() < _paused_until.get(id(client), 0.0):
        return response
    # Labels from fixed sets only (shared/metrics.py): the view's name, never the path (404s
    # and 405s have no route: "unmatched"); any other method or status is "other".
    endpoint = (
        request.endpoint if request.url_rule is not None and request.endpoint else "unmatched"
    )
    recorder = pending()
    recorder.inc(
        metrics.HTTP_REQUESTS,
        service=service,
        endpoint=endpoint,
        method=metrics.http_method_label(request.method),
        status=metrics.http_status_label(response.status_code),
    )
    recorder.observe(
        metrics.HTTP_SECONDS, time.perf_counter() - started, service=service, endpoint=endpoint
    )
    if endpoint in _REFUSING_ENDPOINTS and response.status_code in _REFUSALS:
        recorder.inc(metrics.INGEST_REFUSED, reason=_REFUSALS[response.status_code])
    _gathered.add(client, settings.index_prefix, recorder)
    return response


def _metrics_view() -> Response:
    settings = app_settings()
    _gathered.flush()  # this process's own requests, up to this one
    try:
        body = metrics_text(settings)
    except (redis.RedisError, OSError) as error:
        raise ApiError(503, "Metrics unavailable", f"Redis is unreachable: {error}") from error
    return Response(body, content_type=metrics.CONTENT_TYPE)


def install_metrics(app: Flask, service: str) -> None:
    """Count and time every request of ``app`` and serve ``GET /metrics`` (Prometheus text:
    the pipeline-wide counters of every service and worker, and gauges read on the scrape)."""
    app.before_request(_start)
    app.after_request(lambda response: _flush(service, response))
    app.add_url_rule("/metrics", "metrics", _metrics_view, methods=["GET"])
