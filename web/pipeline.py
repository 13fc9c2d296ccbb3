"""The pipeline page (``/pipeline``), its JSON (``GET /api/pipeline``) and a dead letter's page.

The page is rendered with the current snapshot (shared/monitoring.py), then
``static/pipeline.js`` asks ``/api/pipeline`` every 2 s and redraws it: queue depth, workers,
throughput per minute over the last 30 minutes, failures and dead letters. Admins only
(web/auth.py): dead letters hold whole posted articles, the workers' host names show.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import redis
from flask import Blueprint, Response, jsonify, render_template, url_for

from shared.article import ARTICLE_ID_PATTERN
from shared.clients import get_redis
from shared.deadletters import get_dead_letters
from shared.http import ApiError, app_settings
from shared.monitoring import pipeline_snapshot
from web.auth import require

bp = Blueprint("pipeline", __name__)

MINUTES = 30  # the throughput chart's span
REFRESH_S = 2
CHART_WIDTH, CHART_HEIGHT = 300, 80
_ARTICLE_ID = re.compile(ARTICLE_ID_PATTERN)


def snapshot() -> dict[str, Any]:
    """The snapshot, with links for the failures and dead letters; 503 without Redis."""
    settings = app_settings()
    try:
        found = pipeline_snapshot(settings, minutes=MINUTES)
    except (redis.RedisError, OSError) as error:
        detail = f"Redis is unreachable: {error}"
        raise ApiError(503, "Pipeline state unavailable", detail) from error
    for letter in found["dead_letters"]["latest"]:
        letter["url"] = url_for("pipeline.dead_letter_page", article_id=letter["id"])
    for failure in found["failures"]["latest"]:
        if failure.get("final"):
            failure["url"] = url_for("pipeline.dead_letter_page", article_id=failure["id"])
    found["refresh_s"] = REFRESH_S
    return found


def chart_bars(minutes: list[dict[str, Any]]) -> dict[str, Any]:
    """Geometry of the throughput chart: one bar per minute, indexed stacked on failed.
    ``static/pipeline.js`` draws the same from the JSON."""
    peak = max([row["indexed"] + row["failed"] for row in minutes] + [1])
    step = CHART_WIDTH / max(len(minutes), 1)
    bars = []
    for n, row in enumerate(minutes):
        failed_h = CHART_HEIGHT * row["failed"] / peak
        indexed_h = CHART_HEIGHT * row["indexed"] / peak
        label = datetime.fromtimestamp(row["minute"], UTC).strftime("%H:%M")
        bars.append(
            {
                "x": round(n * step + 0.5, 2),
                "width": round(max(step - 1, 1), 2),
                "indexed_y": round(CHART_HEIGHT - failed_h - indexed_h, 2),
                "indexed_h": round(indexed_h, 2),
                "failed_y": round(CHART_HEIGHT - failed_h, 2),
                "failed_h": round(failed_h, 2),
                "title": f"{label} UTC: {row['indexed']} indexed, {row['failed']} failed, "
                f"{row['accepted']} accepted",
            }
        )
    return {"peak": peak, "bars": bars, "width": CHART_WIDTH, "height": CHART_HEIGHT}


@bp.app_template_filter("clock")
def clock(timestamp: float) -> str:
    """A Unix time as HH:MM:SS (UTC), as the page's script shows it."""
    return datetime.fromtimestamp(float(timestamp), UTC).strftime("%H:%M:%S")


@bp.app_template_filter("size")
def size(count: float) -> str:
    """Bytes for people (1024-based, as the page's script shows them)."""
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TB"


@bp.get("/pipeline")
@require("admin")
def pipeline_page() -> tuple[str, int]:
    try:
        state = snapshot()
    except ApiError as error:
        return render_template("error.html", error=error), error.status
    chart = chart_bars(state["throughput"]["minutes"])
    return render_template("pipeline.html", state=state, chart=chart), 200


@bp.get("/pipeline/dead-letters/<article_id>")
@require("admin")
def dead_letter_page(article_id: str) -> tuple[str, int]:
    settings = app_settings()
    try:
        if not _ARTICLE_ID.match(article_id):
            raise ApiError(400, "Invalid id", "an article id is 32 hexadecimal characters")
        try:
            found = get_dead_letters(get_redis(settings), settings.index_prefix, [article_id])
        except redis.RedisError as error:
            raise ApiError(503, "Dead letters unavailable", f"Redis: {error}") from error
        if not found:
            raise ApiError(
                404, "Not found", f"no dead letter {article_id} (replayed or dropped, perhaps)"
            )
    except ApiError as error:
        return render_template("error.html", error=error), error.status
    letter = found[0]
    text = letter.payload.get("body") or letter.payload.get("html") or ""
    return render_template(
        "dead_letter.html",
        letter=letter,
        failed_at=datetime.fromtimestamp(letter.failed_at, UTC).isoformat(timespec="seconds"),
        excerpt=text[:2000],
        cut=len(text) > 2000,
    ), 200


@bp.get("/api/pipeline")
@require("admin")
def api_pipeline() -> Response:
    return jsonify(snapshot())


_COUNTS = {"type": "object", "additionalProperties": {"type": "number"}}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/pipeline": {
        "get": {
            "summary": "Where the pipeline stands (the /pipeline page polls it; admins)",
            "description": (
                "Queue depth, worker processes (from their heartbeats), throughput per minute "
                f"over the last {MINUTES} minutes, recent failed attempts, the newest dead "
                "letters, the index's size and the pipeline-wide totals. The same numbers as "
                "`newsroom status --json` and /metrics."
            ),
            "responses": {
                "200": {
                    "description": "The snapshot",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "at": {"type": "string", "format": "date-time"},
                                    "queue": {
                                        "type": "object",
                                        "properties": {
                                            "name": {"type": "string"},
                                            "waiting_tasks": {"type": "integer"},
                                            "max_waiting_tasks": {"type": "integer"},
                                            "reserved_tasks": {"type": "integer"},
                                            "batch_size": {"type": "integer"},
                                            "articles_in_progress": {"type": "integer"},
                                        },
                                    },
                                    "workers": {
                                        "type": "object",
                                        "properties": {
                                            "alive": {"type": "integer"},
                                            "processes": {
                                                "type": "array",
                                                "items": {"type": "object"},
                                            },
                                        },
                                    },
                                    "throughput": {
                                        "type": "object",
                                        "properties": {
                                            "window_minutes": {"type": "integer"},
                                            "per_minute": _COUNTS,
                                            "minutes": {
                                                "type": "array",
                                                "description": "oldest first; `minute` is "
                                                "its start (Unix time)",
                                                "items": _COUNTS,
                                            },
                                        },
                                    },
                                    "failures": {"type": "object"},
                                    "dead_letters": {"type": "object"},
                                    "index": {"type": "object"},
                                    "totals": _COUNTS,
                                    "refresh_s": {"type": "integer"},
                                },
                                "required": ["at", "queue", "workers", "throughput", "totals"],
                            }
                        }
                    },
                },
                "503": {"$ref": "#/components/responses/Problem"},
            },
            # An admin's (web/auth.py): by API token or a logged-in session.
            "security": [{"bearerToken": []}, {"session": []}],
        }
    }
}
