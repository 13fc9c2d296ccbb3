"""``/metrics`` and request metrics for both Flask services (ingest, web).

Each request's metrics (its count and duration, and whatever the view noted with ``pending()``:
articles accepted, a search's latency) go to Redis in one pipelined round trip after the
answer is made. A Redis failure never fails the request; metrics are then skipped for a few
seconds, so an outage does not add a timeout to every request.
"""

from __future__ import annotations

import time

import redis
from flask import Flask, Response, g, request

from shared import metrics
from shared.clients import get_broker_redis, get_elasticsearch, get_redis
from shared.http import ApiError, app_settings
from shared.monitoring import metrics_text

# After a Redis error, this process records no metrics for this long.
PAUSE_AFTER_ERROR_S = 5.0
# Requests refused whole, counted by reason (the endpoints that refuse for backpressure).
_REFUSING_ENDPOINTS = frozenset({"ingest.post_articles"})
_REFUSALS = {429: "backlog", 503: "unavailable"}

_paused_until = 0.0


def pending() -> metrics.Recorder:
    """This request's metrics, written with the request's own after it is answered."""
    if "newsroom_metrics" not in g:
        g.newsroom_metrics = metrics.Recorder()
    recorder: metrics.Recorder = g.newsroom_metrics
    return recorder


def _start() -> None:
    g.newsroom_started = time.perf_counter()


def _flush(service: str, response: Response) -> Response:
    global _paused_until
    started = g.pop("newsroom_started", None)
    if started is None or time.monotonic() < _paused_until:
        return response
    endpoint = request.endpoint or "unmatched"  # 404s: no route, no endpoint
    recorder = pending()
    recorder.inc(
        metrics.HTTP_REQUESTS,
        service=service,
        endpoint=endpoint,
        method=request.method,
        status=str(response.status_code),
    )
    recorder.observe(
        metrics.HTTP_SECONDS, time.perf_counter() - started, service=service, endpoint=endpoint
    )
    if endpoint in _REFUSING_ENDPOINTS and response.status_code in _REFUSALS:
        recorder.inc(metrics.INGEST_REFUSED, reason=_REFUSALS[response.status_code])
    settings = app_settings()
    if not metrics.commit_quietly(recorder, get_redis(settings), settings.index_prefix):
        _paused_until = time.monotonic() + PAUSE_AFTER_ERROR_S
    return response


def _metrics_view() -> Response:
    settings = app_settings()
    try:
        body = metrics_text(
            settings,
            redis_client=get_redis(settings),
            broker_client=get_broker_redis(settings),
            es=get_elasticsearch(settings),
        )
    except (redis.RedisError, OSError) as error:
        raise ApiError(503, "Metrics unavailable", f"Redis is unreachable: {error}") from error
    return Response(body, content_type=metrics.CONTENT_TYPE)


def install_metrics(app: Flask, service: str) -> None:
    """Count and time every request of ``app`` and serve ``GET /metrics`` (Prometheus text:
    the pipeline-wide counters of every service and worker, and gauges read on the scrape)."""
    app.before_request(_start)
    app.after_request(lambda response: _flush(service, response))
    app.add_url_rule("/metrics", "metrics", _metrics_view, methods=["GET"])
