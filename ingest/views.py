"""HTTP edge of ingest: parse, call the logic, serialise."""

from __future__ import annotations

from typing import Any

import redis
from elasticsearch import ApiError as ESApiError
from elasticsearch import TransportError
from flask import Blueprint, Response, jsonify, request, url_for

from ingest.audit import record_post
from ingest.auth import auth_state
from ingest.openapi import openapi_document
from ingest.parsing import ParsedRequest, parse_articles
from ingest.queueing import (
    make_payloads,
    queue_payloads,
    refuse_heavy_when_backlogged,
    refuse_taken_down,
    refuse_when_backlogged,
)
from ingest.states import lookup_states, parse_ids
from shared import metrics
from shared.article import is_article_id
from shared.clients import get_elasticsearch, get_redis
from shared.flask_metrics import pending
from shared.http import ApiError, app_settings, health_response, json_body
from shared.settings import Settings
from shared.status import get_state
from shared.takedown import Takedown, refusal_message
from shared.takedown import get as takedown_record
from shared.tasks import ARTICLE_QUEUES, article_queue, get_task_producer

bp = Blueprint("ingest", __name__)


@bp.get("/")
def index() -> Response:
    return jsonify(
        service="newsroom-ingest",
        endpoints={
            "POST /articles": "application/json (object or array), application/x-ndjson, "
            "text/plain, text/html",
            "GET /articles/<id>": "state of one article: queued, indexed or failed",
            "POST /articles/status": 'states of many articles: {"ids": [...]}',
            "GET /metrics": "Prometheus metrics of the whole pipeline",
            "GET /healthz": "Redis and Elasticsearch reachability; whether auth is required",
            "GET /openapi.json": "this API described as OpenAPI 3.1",
        },
    )


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())


def _queue(settings: Settings) -> str:
    """``?queue=live`` (the default) or ``bulk``: archive loads go to the bulk queue, so
    articles posted as they happen never wait behind them."""
    chosen = request.args.get("queue", "live")
    if chosen not in ARTICLE_QUEUES:
        raise ApiError(400, "Invalid parameter", "'queue' must be live or bulk", parameter="queue")
    return article_queue(settings, chosen)


def _body(settings: Settings) -> bytes:
    """The request body, refused (413) above ``ingest_max_body_bytes`` however it is sent."""
    raw = request.get_data(cache=False)
    # Without Content-Length (chunked), Werkzeug ends the body at MAX_CONTENT_LENGTH without
    # an error: one that fills the limit may have been cut short, so it is refused too.
    if request.content_length is None and len(raw) >= settings.ingest_max_body_bytes:
        raise ApiError(
            413,
            "Request Entity Too Large",
            f"the body has at most {settings.ingest_max_body_bytes - 1} bytes when sent "
            "without Content-Length; split the batch",
        )
    return raw


@bp.post("/articles")
def post_articles() -> tuple[Response, int]:
    settings = app_settings()
    queue = _queue(settings)
    refuse_when_backlogged(settings, queue)  # before reading a body it would refuse
    parsed = parse_articles(
        _body(settings),
        request.mimetype,
        request.args,
        settings.ingest_max_articles_per_request,
        request.mimetype_params.get("charset"),
    )
    rejected: list[dict[str, Any]] = [
        {parsed.position_name: item.position, "errors": item.errors} for item in parsed.rejected
    ]
    pending().inc(metrics.REJECTED, len(rejected))  # written after the answer, with its own
    if not parsed.articles:
        raise ApiError(
            422, "Invalid articles", "no article in the request is valid", rejected=rejected
        )
    refuse_heavy_when_backlogged(parsed.articles, settings, queue)
    # A taken-down article (shared/takedown.py) is refused with its reason, like an invalid one.
    payloads, refused = refuse_taken_down(
        make_payloads(parsed.articles, content_type=request.mimetype),
        get_redis(settings),
        settings,
    )
    if refused:
        rejected = sorted(
            rejected + [taken_down_item(parsed, n, found) for n, found in refused.items()],
            key=lambda item: int(item[parsed.position_name]),
        )
        pending().inc(metrics.REJECTED, len(refused))
        if not payloads:
            raise ApiError(
                409,
                "Taken down",
                "every valid article in the request was taken down by an admin; "
                "each one's reason is in `rejected`",
                rejected=rejected,
            )
    payloads = queue_payloads(
        payloads,
        celery_app=get_task_producer(settings),
        redis_client=get_redis(settings),
        settings=settings,
        queue=queue,
    )
    pending().inc(metrics.ACCEPTED, len(payloads)).inc(
        metrics.QUEUED, len(payloads), origin="ingest"
    )
    record_post(settings, queue=queue, accepted=len(payloads), rejected=len(rejected))
    body: dict[str, Any] = {
        "accepted": len(payloads),
        "articles": [
            {
                "id": payload["id"],
                "state": "queued",
                "status_url": url_for(
                    "ingest.article_status", article_id=payload["id"], _external=True
                ),
            }
            for payload in payloads
        ],
        "rejected": rejected,
    }
    return jsonify(body), 202


def taken_down_item(parsed: ParsedRequest, number: int, found: Takedown) -> dict[str, Any]:
    """The ``rejected`` entry of the ``number``-th valid article, taken down."""
    return {
        parsed.position_name: parsed.positions[number],
        "id": found["id"],
        "errors": [{"field": "(article)", "message": refusal_message(found)}],
        "taken_down": {"reason": found["reason"], "at": found["at"]},
    }


@bp.post("/articles/status")
def articles_status() -> Response:
    """Where many articles stand at once: ``{"ids": [...]}`` (up to 1000)."""
    settings = app_settings()
    ids = parse_ids(json_body())
    try:
        found = lookup_states(
            ids,
            redis_client=get_redis(settings),
            es=get_elasticsearch(settings),
            prefix=settings.index_prefix,
            alias=settings.articles_alias,
        )
    except redis.RedisError as error:
        raise ApiError(503, "Status unavailable", f"Redis is unreachable: {error}") from error
    except (TransportError, ESApiError) as error:
        raise ApiError(503, "Status unavailable", f"Elasticsearch: {error}") from error
    return jsonify(found)


@bp.get("/articles/<article_id>")
def article_status(article_id: str) -> Response:
    if not is_article_id(article_id):
        raise ApiError(400, "Invalid id", "an article id is 32 lowercase hexadecimal characters")
    settings = app_settings()
    try:
        state = get_state(get_redis(settings), settings.index_prefix, article_id)
    except redis.RedisError as error:
        raise ApiError(503, "Status unavailable", f"Redis is unreachable: {error}") from error
    if state is None:
        # Status records expire; the index is the lasting proof.
        try:
            found = bool(
                get_elasticsearch(settings).exists(index=settings.articles_alias, id=article_id)
            )
        except TransportError as error:
            raise ApiError(
                503, "Status unavailable", f"Elasticsearch is unreachable: {error}"
            ) from error
        if found:
            state = {"state": "indexed", "updated_at": "", "error": ""}
        elif removed := takedown_record(get_redis(settings), settings, article_id):
            taken_down = {"reason": removed["reason"], "at": removed["at"]}
            raise ApiError(410, "Taken down", refusal_message(removed), taken_down=taken_down)
        else:
            raise ApiError(404, "Not found", f"no article with id {article_id} was accepted")
    body: dict[str, Any] = {
        "id": article_id,
        "state": state["state"],
        "updated_at": state.get("updated_at") or None,
    }
    if state.get("error"):
        body["error"] = state["error"]
    return jsonify(body)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Public; also says whether requests need credentials ("required") or not ("open")."""
    settings = app_settings()
    response, status = health_response(settings)
    return jsonify({**response.get_json(), "auth": auth_state(settings)}), status
