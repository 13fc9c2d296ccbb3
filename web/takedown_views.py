"""Takedowns, admins only: the "Take down" form of the article page, the list of takedowns in
force (``/admin/takedowns``, each with "Lift"), and the JSON API (``POST`` and ``DELETE
/api/articles/<id>/takedown``, ``GET /api/takedowns``). The logic: shared/takedown.py. Forms
and JSON of a cookie session carry the CSRF token (web/auth.py checks it before any view)."""

from __future__ import annotations

from typing import Any

import redis
from elasticsearch import ApiError as ESApiError
from elasticsearch import TransportError
from flask import (
    Blueprint,
    Response,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from shared import takedown
from shared.article import ARTICLE_ID_PATTERN
from shared.clients import get_elasticsearch, get_redis
from shared.http import ApiError, app_settings, json_body
from web.auth import current_account, require
from web.params import positive_int

bp = Blueprint("takedowns", __name__)

LIST_LIMIT = 200


def _actor() -> str:
    account = current_account()
    return account.name if account is not None else "anonymous"


def _redis_down(error: redis.RedisError) -> ApiError:
    return ApiError(503, "Takedowns unavailable", f"Redis is unreachable: {error}")


def _take_down(article_id: str, reason: Any, with_copies: bool) -> takedown.TakedownResult:
    settings = app_settings()
    if not isinstance(reason, str):
        raise ApiError(400, "Invalid takedown", "'reason' must be a string")
    try:
        return takedown.take_down(
            get_elasticsearch(settings),
            get_redis(settings),
            settings,
            article_id,
            reason,
            _actor(),
            with_copies,
            address=request.remote_addr,
        )
    except takedown.TakedownError as error:
        raise ApiError(400, "Invalid takedown", str(error)) from error
    except redis.RedisError as error:
        raise _redis_down(error) from error
    except (TransportError, ESApiError, RuntimeError) as error:
        # The record stands (re-posts are refused): the same takedown again finishes it.
        raise ApiError(
            503,
            "Takedown incomplete",
            f"Elasticsearch: {error}; the takedown is recorded, run it again to finish",
        ) from error


def _lift(article_id: str, with_copies: bool) -> list[takedown.Takedown]:
    settings = app_settings()
    try:
        lifted = takedown.lift(
            get_redis(settings),
            settings,
            article_id,
            _actor(),
            with_copies,
            address=request.remote_addr,
        )
    except takedown.TakedownError as error:
        raise ApiError(400, "Invalid id", str(error)) from error
    except redis.RedisError as error:
        raise _redis_down(error) from error
    if not lifted:
        raise ApiError(404, "Not found", f"article {article_id} is not taken down")
    return lifted


def _list(offset: int, limit: int) -> tuple[list[takedown.Takedown], int]:
    settings = app_settings()
    r = get_redis(settings)
    try:
        found = takedown.list_takedowns(r, settings, offset=offset, limit=limit)
        return found, takedown.count_takedowns(r, settings)
    except redis.RedisError as error:
        raise _redis_down(error) from error


def _flag(value: Any) -> bool:
    return value in (True, "1", "true", "on", "yes")


@bp.post("/articles/<article_id>/takedown")
@require("admin")
def take_down_form(article_id: str) -> Response | tuple[str, int]:
    try:
        _take_down(
            article_id, request.form.get("reason", ""), _flag(request.form.get("with_copies"))
        )
    except ApiError as error:
        return render_template("error.html", error=error), error.status
    return make_response(redirect(url_for("takedowns.page", done=article_id), 303))


@bp.post("/admin/takedowns/<article_id>/lift")
@require("admin")
def lift_form(article_id: str) -> Response | tuple[str, int]:
    try:
        _lift(article_id, _flag(request.form.get("with_copies")))
    except ApiError as error:
        return render_template("error.html", error=error), error.status
    return make_response(redirect(url_for("takedowns.page", lifted=article_id), 303))


@bp.get("/admin/takedowns")
@require("admin")
def page() -> tuple[str, int]:
    try:
        found, total = _list(0, LIST_LIMIT)
    except ApiError as error:
        return render_template("error.html", error=error), error.status
    return render_template(
        "takedowns.html",
        takedowns=found,
        total=total,
        done=request.args.get("done", ""),
        lifted=request.args.get("lifted", ""),
    ), 200


@bp.post("/api/articles/<article_id>/takedown")
@require("admin")
def api_take_down(article_id: str) -> tuple[Response, int]:
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid body", 'send {"reason": "...", "with_copies": false}')
    with_copies = body.get("with_copies", False)
    if not isinstance(with_copies, bool):
        raise ApiError(400, "Invalid takedown", "'with_copies' must be true or false")
    result = _take_down(article_id, body.get("reason"), with_copies)
    return jsonify(result.as_json()), 201


@bp.delete("/api/articles/<article_id>/takedown")
@require("admin")
def api_lift(article_id: str) -> Response:
    return jsonify({"lifted": _lift(article_id, _flag(request.args.get("with_copies")))})


@bp.get("/api/takedowns")
@require("admin")
def api_list() -> Response:
    offset = positive_int(request.args, "offset", 0, 1_000_000, least=0)
    limit = positive_int(request.args, "limit", LIST_LIMIT, 1000)
    found, total = _list(offset, limit)
    return jsonify({"takedowns": found, "total": total, "offset": offset})


_TAKEDOWN: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "reason": {"type": "string"},
        "actor": {"type": "string"},
        "at": {"type": "string", "format": "date-time"},
        "copy_of": {"type": ["string", "null"]},
        "cluster_id": {"type": ["string", "null"]},
    },
    "required": ["id", "reason", "actor", "at"],
}
_PROBLEM = {"$ref": "#/components/responses/Problem"}
_ID = {
    "name": "article_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": ARTICLE_ID_PATTERN},
}
# An admin's (web/auth.py): by API token or a logged-in session (with its CSRF token).
_ADMIN: list[dict[str, list[str]]] = [{"bearerToken": []}, {"session": []}]

OPENAPI_PATHS: dict[str, Any] = {
    "/api/articles/{article_id}/takedown": {
        "post": {
            "summary": "Take an article down (admins)",
            "description": (
                "Removes the article from every index, the dead letters, the ingest status "
                "records and the saved searches' matches, with a reason; with `with_copies`, "
                "also its copies (its near-duplicate cluster, at most "
                f"{takedown.MAX_COPIES} a call). From then on ingest refuses a "
                "re-post of it with the reason, the worker never indexes it, and its page "
                "answers 410, until the takedown is lifted. An id never indexed can be taken "
                "down too. Taking it down again replaces the reason."
            ),
            "parameters": [_ID],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "reason": {
                                    "type": "string",
                                    "minLength": 1,
                                    "maxLength": takedown.MAX_REASON_CHARS,
                                },
                                "with_copies": {"type": "boolean", "default": False},
                            },
                            "required": ["reason"],
                        }
                    }
                },
            },
            "responses": {
                "201": {
                    "description": "Taken down: what was removed",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "takedown": _TAKEDOWN,
                                    "copies": {"type": "array", "items": {"type": "string"}},
                                    "copies_left": {"type": "boolean"},
                                    "documents_deleted": {"type": "integer"},
                                    "dead_letters_removed": {"type": "integer"},
                                    "status_records_removed": {"type": "integer"},
                                    "saved_search_matches_removed": {"type": "integer"},
                                },
                                "required": ["takedown", "copies", "documents_deleted"],
                            }
                        }
                    },
                },
                "400": _PROBLEM,
                "503": _PROBLEM,
            },
            "security": _ADMIN,
        },
        "delete": {
            "summary": "Lift a takedown (admins): the article may be posted again",
            "description": "Nothing removed comes back by itself: post the article again. "
            "`with_copies=1` also lifts the takedowns of the copies taken down with it.",
            "parameters": [
                _ID,
                {
                    "name": "with_copies",
                    "in": "query",
                    "schema": {"type": "string", "enum": ["0", "1", "true", "false"]},
                },
            ],
            "responses": {
                "200": {
                    "description": "The takedowns lifted",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"lifted": {"type": "array", "items": _TAKEDOWN}},
                                "required": ["lifted"],
                            }
                        }
                    },
                },
                "400": _PROBLEM,
                "404": _PROBLEM,
                "503": _PROBLEM,
            },
            "security": _ADMIN,
        },
    },
    "/api/takedowns": {
        "get": {
            "summary": "The takedowns in force, newest first (admins)",
            "parameters": [
                {
                    "name": "offset",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
                },
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                },
            ],
            "responses": {
                "200": {
                    "description": "One page of takedowns and how many there are",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "takedowns": {"type": "array", "items": _TAKEDOWN},
                                    "total": {"type": "integer"},
                                    "offset": {"type": "integer"},
                                },
                                "required": ["takedowns", "total"],
                            }
                        }
                    },
                },
                "400": _PROBLEM,
                "503": _PROBLEM,
            },
            "security": _ADMIN,
        }
    },
}
