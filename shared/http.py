"""What both Flask services share at the HTTP edge: JSON errors, the health check, and which
proxies to believe."""

from __future__ import annotations

import logging
from typing import Any

import redis
from elastic_transport import TransportError
from elasticsearch import ApiError as ElasticsearchApiError
from elasticsearch import Elasticsearch
from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from shared.clients import get_elasticsearch, get_redis
from shared.settings import Settings

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

# The error body, as both services' OpenAPI documents describe it.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "status": {"type": "integer"},
        "title": {"type": "string"},
        "detail": {"type": "string"},
        "parameter": {"type": "string", "description": "the query parameter at fault"},
    },
    "required": ["status", "title", "detail"],
}
PROBLEM_RESPONSE: dict[str, Any] = {
    "description": "What is wrong",
    "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


class ApiError(Exception):
    """An error the client can act on, answered as ``application/problem+json``."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        retry_after_s: int | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.retry_after_s = retry_after_s
        self.extra = extra


def trust_proxies(app: Flask, settings: Settings) -> None:
    """Behind ``settings.trusted_proxy_hops`` reverse proxies, take the client's address and
    scheme from their X-Forwarded-For and X-Forwarded-Proto (Werkzeug's ProxyFix: only that
    many hops back, so what a client writes into the header itself is not believed). Without
    proxies the headers are ignored."""
    hops = settings.trusted_proxy_hops
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]


def problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    response = jsonify({"status": status, "title": title, "detail": detail, **extra})
    response.status_code = status
    response.mimetype = PROBLEM_JSON
    return response


def register_error_handlers(app: Flask) -> None:
    @app.before_request
    def _readable_query_string() -> None:
        # Werkzeug decodes the query string as strict UTF-8 on first use of request.args: raw
        # bytes such as 0xFF sent unescaped would raise UnicodeDecodeError (a 500) in the view.
        try:
            request.args  # noqa: B018 (parsed here, once, to refuse it cleanly)
        except UnicodeDecodeError as error:
            raise ApiError(
                400, "Invalid encoding", f"the query string is not valid UTF-8 (byte {error.start})"
            ) from None

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        response = problem(error.status, error.title, error.detail, **error.extra)
        if error.retry_after_s is not None:
            response.headers["Retry-After"] = str(error.retry_after_s)
        elif error.status in (429, 503):
            response.headers["Retry-After"] = "5"
        return response

    # A safety net under the views, which answer these themselves where they can say more: a
    # store that is down, refuses our credentials (a rotated password) or is overloaded is the
    # service's trouble, not the client's, and never a 500.
    @app.errorhandler(redis.RedisError)
    def _redis_unavailable(error: redis.RedisError) -> Response:
        log.warning("Redis failed under a request: %s", error)
        return _api_error(ApiError(503, "Service unavailable", f"Redis: {error}"))

    @app.errorhandler(TransportError)
    def _elasticsearch_unreachable(error: TransportError) -> Response:
        log.warning("Elasticsearch unreachable under a request: %s", error)
        return _api_error(ApiError(503, "Service unavailable", f"Elasticsearch: {error}"))

    @app.errorhandler(ElasticsearchApiError)
    def _elasticsearch_refused(error: ElasticsearchApiError) -> Response:
        status = error.meta.status
        if status in (401, 403, 429) or status >= 500:
            log.warning("Elasticsearch refused a request: %s", error)
            return _api_error(
                ApiError(503, "Service unavailable", f"Elasticsearch answered {status}")
            )
        return _unexpected(error)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        return problem(status, error.name, error.description or error.name)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error")
        return problem(500, "Internal Server Error", "an unexpected error occurred; it was logged")


def json_body() -> Any:
    """The request's JSON body, or None when it is not JSON (``get_json(silent=True)``), except
    that JSON nested deeper than Python's recursion limit is the client's mistake (400), where
    Flask would let RecursionError through (a 500)."""
    try:
        return request.get_json(silent=True)
    except RecursionError:
        raise ApiError(400, "Malformed JSON", "the JSON is nested too deeply") from None


def app_settings() -> Settings:
    """The settings the running app was created with (``create_app`` stores them)."""
    settings: Settings = current_app.extensions["newsroom_settings"]
    return settings


def health_response(settings: Settings) -> tuple[Response, int]:
    """``GET /healthz`` of both services: 200 when Redis and Elasticsearch are usable, else 503
    with the reason."""
    ok, report = check_dependencies(get_elasticsearch(settings), get_redis(settings))
    return jsonify(status="ok" if ok else "unavailable", checks=report), 200 if ok else 503


def check_dependencies(es: Elasticsearch, redis_client: redis.Redis) -> tuple[bool, dict[str, Any]]:
    """Whether Redis and Elasticsearch are usable, and why not."""
    report: dict[str, Any] = {}
    try:
        redis_client.ping()
        report["redis"] = {"ok": True}
    except redis.RedisError as error:
        report["redis"] = {"ok": False, "reason": f"{type(error).__name__}: {error}"}
    try:
        health = es.cluster.health(timeout="2s")
        status = str(health["status"])
        report["elasticsearch"] = {"ok": status in ("green", "yellow"), "status": status}
        if status == "red":
            report["elasticsearch"]["reason"] = "cluster status is red"
    except Exception as error:  # any transport or API failure means "not usable"
        report["elasticsearch"] = {"ok": False, "reason": f"{type(error).__name__}: {error}"}
    return all(part["ok"] for part in report.values()), report
