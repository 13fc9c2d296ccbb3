"""The audit log in the web: the helper its write paths call (``audit``), the admins' page
(``/admin/audit``) and its JSON (``GET /api/audit``) and NDJSON export
(``GET /api/audit.ndjson``). The store: shared/audit.py.

A web write whose event cannot be written (Redis down or full) still answers as it would have:
the event goes to the log instead (a warning naming it), never a 500. The write itself went to
the same Redis a moment before, so this is rare; the log line keeps what happened.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import redis
from flask import Blueprint, Response, g, jsonify, render_template, request, stream_with_context

from shared import audit as store
from shared.clients import get_redis
from shared.http import ApiError, app_settings
from shared.settings import Settings
from web.auth import current_account, require
from web.params import positive_int

log = logging.getLogger(__name__)

bp = Blueprint("audit", __name__)

PAGE_SIZE = 50
API_DEFAULT = 200
# Most events one export writes (`limit`); the default is the most.
EXPORT_MAX = 100_000
_EXPORT_BATCH = 1000
NDJSON = "application/x-ndjson"


def audit(
    action: str, target: str, *, actor: str | None = None, **detail: store.DetailValue
) -> None:
    """Record ``action`` on ``target`` by the request's user (or ``actor``: a login names its
    user before the session holds it) from the request's address. Never raises."""
    account = current_account()
    who = actor or (account.name if account is not None else "anonymous")
    if g.get("via_token"):
        detail = {"via": "token", **detail}
    settings = app_settings()
    try:
        store.record(
            get_redis(settings),
            settings,
            actor=who,
            action=action,
            target=target,
            address=request.remote_addr,
            detail=detail,
        )
    except (redis.RedisError, OSError) as error:
        log.warning(
            "audit event not recorded (%s): actor=%r action=%r target=%r address=%r detail=%r",
            error,
            who,
            action,
            target,
            request.remote_addr,
            detail,
        )


def _filters(args: Mapping[str, str], default_limit: int, max_limit: int) -> dict[str, Any]:
    """``actor``, ``action``, ``before`` and ``limit`` from the query; 400 when one is wrong."""
    found: dict[str, Any] = {}
    for name, most in (("actor", store.MAX_ACTOR_CHARS), ("action", store.MAX_ACTION_CHARS)):
        value = args.get(name, "")
        if len(value) > most:
            raise ApiError(400, "Invalid parameter", f"{name} has at most {most} characters",
                           parameter=name)  # fmt: skip
        found[name] = value.strip() or None
    before = args.get("before")  # blank is no event id (the pages' links leave it out)
    if before is not None and not store.EVENT_ID_PATTERN.match(before):
        raise ApiError(400, "Invalid parameter", "before is an event id such as "
                       "1796167713439-0 (next_before of a page)", parameter="before")  # fmt: skip
    found["before"] = before
    found["limit"] = positive_int(args, "limit", default_limit, max_limit)
    return found


def _page(settings: Settings, filters: Mapping[str, Any]) -> store.AuditPage:
    try:
        return store.read_page(get_redis(settings), settings, **filters)
    except (redis.RedisError, OSError) as error:
        raise ApiError(503, "Audit log unavailable", f"Redis is unreachable: {error}") from error


@bp.get("/admin/audit")
@require("admin")
def page() -> tuple[str, int]:
    settings = app_settings()
    try:
        filters = _filters(request.args, PAGE_SIZE, store.MAX_READ)
        found = _page(settings, filters)
    except ApiError as error:
        return render_template("error.html", error=error), error.status
    shown = {name: filters[name] for name in ("actor", "action") if filters[name]}
    return render_template(
        "audit.html",
        events=found["events"],
        next_before=found["next_before"],
        filters=shown,
        before=filters["before"],
        scan=store.MAX_SCAN,
    ), 200


@bp.get("/api/audit")
@require("admin")
def api() -> Response:
    """Events newest first; ``next_before`` continues (null at the end of the log)."""
    settings = app_settings()
    found = _page(settings, _filters(request.args, API_DEFAULT, store.MAX_READ))
    response = jsonify(found)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/api/audit.ndjson")
@require("admin")
def api_export() -> Response:
    """One event per line, newest first, at most ``limit`` (EXPORT_MAX by default); streamed
    page by page. The first page is read before answering (Redis down: 503); a failure later
    ends the stream early (logged)."""
    settings = app_settings()
    filters = _filters(request.args, EXPORT_MAX, EXPORT_MAX)
    wanted = filters.pop("limit")
    first = _page(settings, {**filters, "limit": min(wanted, _EXPORT_BATCH)})

    def lines() -> Iterator[str]:
        page, sent = first, 0
        while True:
            for event in page["events"][: wanted - sent]:
                yield json.dumps(event, ensure_ascii=False) + "\n"
                sent += 1
            if sent >= wanted or page["next_before"] is None:
                return
            more = {**filters, "before": page["next_before"]}
            try:
                page = store.read_page(
                    get_redis(settings), settings, **more, limit=min(wanted - sent, _EXPORT_BATCH)
                )
            except (redis.RedisError, OSError) as error:
                log.warning("audit export cut short after %d events: %s", sent, error)
                return

    response = Response(stream_with_context(lines()), mimetype=NDJSON)
    response.headers["Content-Disposition"] = 'attachment; filename="audit.ndjson"'
    response.headers["Cache-Control"] = "no-store"
    return response


_EVENT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "description": "the stream id: milliseconds-sequence"},
        "at": {"type": "string", "format": "date-time"},
        "actor": {
            "type": "string",
            "description": 'a user name, "token:<id>" (an ingest token), "key" (the '
            'deprecated ingest key), "cli:<unix user>" or "anonymous"',
        },
        "action": {"type": "string", "description": 'dotted, e.g. "saved.create", "login"'},
        "target": {"type": "string"},
        "address": {"type": ["string", "null"], "description": "the client's address"},
        "detail": {
            "type": "object",
            "additionalProperties": {"type": ["string", "integer", "boolean", "null"]},
        },
    },
    "required": ["id", "at", "actor", "action", "target", "address", "detail"],
}


def _parameter(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema}


def _parameters(max_limit: int, default_limit: int) -> list[dict[str, Any]]:
    return [
        _parameter(
            "actor",
            "only this actor's events (exactly, spaces around it trimmed; blank: all)",
            {"type": "string", "maxLength": store.MAX_ACTOR_CHARS},
        ),
        _parameter(
            "action",
            'only this action (exactly), or those it begins when it ends in "." or "*" '
            '("saved." is every saved-search event); blank: all',
            {"type": "string", "maxLength": store.MAX_ACTION_CHARS},
        ),
        _parameter(
            "before",
            "only events older than this event id (a page's next_before)",
            {"type": "string", "pattern": store.EVENT_ID_PATTERN.pattern},
        ),
        _parameter(
            "limit",
            f"most events (default {default_limit}); blank counts as absent",
            {"type": "integer", "minimum": 1, "maximum": max_limit},
        ),
    ]


_ADMIN: list[dict[str, list[str]]] = [{"bearerToken": []}, {"session": []}]
OPENAPI_PATHS: dict[str, Any] = {
    "/api/audit": {
        "get": {
            "summary": "The audit log: writes and admin actions, newest first (admins)",
            "description": (
                "Who did what, when and from where. Filtered reads look through at most "
                f"{store.MAX_SCAN:,} events per request; next_before goes on from where it "
                "stopped (null at the end of the log)."
            ),
            "parameters": _parameters(store.MAX_READ, API_DEFAULT),
            "responses": {
                "200": {
                    "description": "A page of events",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "events": {"type": "array", "items": _EVENT},
                                    "next_before": {"type": ["string", "null"]},
                                },
                                "required": ["events", "next_before"],
                            }
                        }
                    },
                },
                "400": {"$ref": "#/components/responses/Problem"},
                "503": {"$ref": "#/components/responses/Problem"},
            },
            "security": _ADMIN,
        }
    },
    "/api/audit.ndjson": {
        "get": {
            "summary": "The audit log exported as NDJSON, one event per line (admins)",
            "description": (
                "The events of /api/audit (same filters), newest first, streamed; at most "
                f"limit events (at most {EXPORT_MAX:,})."
            ),
            "parameters": _parameters(EXPORT_MAX, EXPORT_MAX),
            "responses": {
                "200": {
                    "description": "One JSON event per line",
                    "content": {NDJSON: {"schema": {"type": "string"}}},
                },
                "400": {"$ref": "#/components/responses/Problem"},
                "503": {"$ref": "#/components/responses/Problem"},
            },
            "security": _ADMIN,
        }
    },
}
