"""What is rising: the page (``/rising``) and its JSON (``GET /api/rising``). The logic:
web/rising.py, the score: shared/rising.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from elasticsearch import ApiError as ESApiError
from elasticsearch import TransportError
from flask import Blueprint, Response, jsonify, render_template, request, url_for
from redis import RedisError
from werkzeug.routing import BuildError

from shared.clients import get_redis
from shared.http import ApiError, app_settings
from shared.rising import windows
from web.backend import search_client
from web.params import positive_int
from web.rising import (
    DEFAULT_LIMIT,
    KINDS,
    MAX_BASELINE_DAYS,
    MAX_LIMIT,
    MAX_RECENT_HOURS,
    rising,
)

bp = Blueprint("rising", __name__)

# Kind -> the entity page's kind (/entities/<kind>/<name>).
_ENTITY_KINDS = {"people": "person", "organisations": "organisation", "places": "place"}


def _kinds() -> list[str]:
    asked = [kind.strip() for kind in request.args.getlist("kind") if kind.strip()]
    unknown = [kind for kind in asked if kind not in KINDS]
    if unknown:
        raise ApiError(
            400,
            "Invalid parameter",
            f"'kind' is one of {', '.join(KINDS)}",
            parameter="kind",
        )
    return list(dict.fromkeys(asked)) or list(KINDS)


def link(kind: str, value: str) -> str:
    """Where a rising value leads: its entity page, its story, or a search for a keyword."""
    if kind in _ENTITY_KINDS:
        return url_for("entities.page", kind=_ENTITY_KINDS[kind], name=value)
    if kind == "stories":
        try:
            return url_for("stories.page", story_id=value)
        except BuildError:  # the story pages' blueprint is not in this app
            return url_for("search.page", q=value)
    return url_for("search.page", keywords=value)


def _fetch() -> dict[str, Any]:
    settings = app_settings()
    kinds = _kinds()
    span = windows(
        datetime.now(UTC),
        positive_int(request.args, "recent_hours", settings.rising_recent_hours, MAX_RECENT_HOURS),
        positive_int(
            request.args, "baseline_days", settings.rising_baseline_days, MAX_BASELINE_DAYS
        ),
    )
    limit = positive_int(request.args, "limit", DEFAULT_LIMIT, MAX_LIMIT)
    try:
        found = rising(search_client(settings), get_redis(settings), settings, kinds, span, limit)
    except ESApiError as error:
        raise ApiError(
            503, "Rising unavailable", f"Elasticsearch answered {error.meta.status}"
        ) from error
    except TransportError as error:
        raise ApiError(503, "Rising unavailable", f"Elasticsearch: {error}") from error
    except RedisError as error:
        raise ApiError(503, "Rising unavailable", f"Redis: {error}") from error
    for kind, items in found["kinds"].items():
        for item in items:
            item["url"] = link(kind, item["value"])
    return found


@bp.get("/rising")
def page() -> tuple[str, int]:
    try:
        found = _fetch()
    except ApiError as error:
        return render_template("error.html", error=error), error.status
    return render_template("rising.html", rising=found), 200


@bp.get("/api/rising")
def api() -> Response:
    """The people, organisations, places, keywords and stories rising now."""
    return jsonify(_fetch())


_PROBLEM = {"$ref": "#/components/responses/Problem"}
_ITEM: dict[str, Any] = {
    "type": "object",
    "properties": {
        "value": {
            "type": "string",
            "description": "the name, keyword, GeoNames id (places) or story id (stories)",
        },
        "label": {"type": "string", "description": "a place's name, a story's title"},
        "url": {"type": "string", "description": "its entity page, story page or search"},
        "recent": {"type": "integer", "description": "articles in the recent window"},
        "baseline": {"type": "integer", "description": "articles in the baseline window"},
        "expected": {
            "type": "number",
            "description": "recent articles expected at the baseline rate (with a prior of "
            "half an article)",
        },
        "ratio": {"type": "number", "description": "recent / expected"},
        "score": {
            "type": "number",
            "description": "-log10 of the Poisson chance of at least `recent` articles at the "
            "baseline rate (shared/rising.py)",
        },
        "rising": {"type": "boolean"},
    },
    "required": ["value", "label", "url", "recent", "baseline", "expected", "ratio", "score"],
}
_WINDOW = {
    "type": "object",
    "properties": {
        "from": {"type": "string", "format": "date-time"},
        "to": {"type": "string", "format": "date-time"},
    },
}
OPENAPI_PATHS: dict[str, Any] = {
    "/api/rising": {
        "get": {
            "summary": "What is rising: people, organisations, places, keywords, stories",
            "description": (
                "Values named in more articles in the recent window than the baseline window "
                "before it predicts, most surprising first. Counted by seen_at (when the "
                "article's news happened; articles without it are left out). A value rises "
                "with at least min_count recent articles, a score of at least min_score and "
                "twice the expected rate; the recent window's 100 most frequent values of "
                "each kind are considered."
            ),
            "parameters": [
                {
                    "name": "kind",
                    "in": "query",
                    "description": "the kinds to list (repeat for several; default: all)",
                    "schema": {"type": "array", "items": {"type": "string", "enum": list(KINDS)}},
                    "style": "form",
                    "explode": True,
                },
                {
                    "name": "recent_hours",
                    "in": "query",
                    "description": "the recent window, in hours before now (blank: 24)",
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_RECENT_HOURS},
                },
                {
                    "name": "baseline_days",
                    "in": "query",
                    "description": "the baseline window, in days before the recent one (blank: 14)",
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_BASELINE_DAYS},
                },
                {
                    "name": "limit",
                    "in": "query",
                    "description": "at most this many of each kind (blank: 20)",
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                },
            ],
            "responses": {
                "200": {
                    "description": "What is rising, by kind",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "recent": _WINDOW,
                                    "baseline": _WINDOW,
                                    "recent_hours": {"type": "integer"},
                                    "baseline_days": {"type": "integer"},
                                    "min_count": {"type": "integer"},
                                    "min_score": {"type": "number"},
                                    "kinds": {
                                        "type": "object",
                                        "additionalProperties": {
                                            "type": "array",
                                            "items": _ITEM,
                                        },
                                    },
                                },
                                "required": ["recent", "baseline", "kinds"],
                            }
                        }
                    },
                },
                "400": _PROBLEM,
                "503": _PROBLEM,
            },
        }
    }
}
