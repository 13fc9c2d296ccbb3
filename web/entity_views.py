"""Entities: a person's, organisation's or place's page (``/entities/<kind>/<name>``: stories
over time, quotes, companions) and its JSON (``GET /api/entities/<kind>/<name>``). The logic:
web/entities.py."""

from __future__ import annotations

from typing import Any

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

from shared.http import ApiError, app_settings
from web.backend import search_client
from web.entities import KINDS, STORIES, entity_profile, invalid_name
from web.params import positive_int

bp = Blueprint("entities", __name__)


def _copies_grouped() -> bool:
    """Copies of a story (one near-duplicate cluster) are one entry unless ``group=off``."""
    return request.args.get("group") != "off"


def _fetch_entity(
    kind: str, name: str, size: int = STORIES, *, group_copies: bool = True
) -> dict[str, Any]:
    if kind not in KINDS:
        raise ApiError(404, "Not found", f"entity kinds are {', '.join(KINDS)}")
    problem = invalid_name(name)
    if problem:
        raise ApiError(400, "Invalid parameter", problem, parameter="name")
    settings = app_settings()
    try:
        profile = entity_profile(
            search_client(settings),
            settings.articles_alias,
            kind,
            name,
            size=size,
            group_copies=group_copies,
        )
    except ESApiError as error:
        raise ApiError(
            503, "Entity unavailable", f"Elasticsearch answered {error.meta.status}"
        ) from error
    except TransportError as error:
        raise ApiError(503, "Entity unavailable", f"Elasticsearch: {error}") from error
    if profile is None:
        raise ApiError(404, "Not found", f"no article names the {kind} {name!r}")
    return profile


@bp.get("/entities/<kind>/<path:name>")
def page(kind: str, name: str) -> tuple[str, int] | Response:
    try:
        profile = _fetch_entity(kind, name, group_copies=_copies_grouped())
    except ApiError as error:
        return render_template("error.html", error=error), error.status
    place_ids = {str(loc["geonameid"]) for loc in profile.get("locations", [])}
    place_ids.discard("None")
    if kind == "place" and not name.isdigit() and len(place_ids) == 1:
        # A place's page is its GeoNames id; a name ("Kiev", an older link) that points to
        # one place leads there. A name of two places (Springfield) lists both.
        (place_id,) = place_ids
        return make_response(redirect(url_for("entities.page", kind=kind, name=place_id), 301))
    return render_template("entity.html", profile=profile, grouped=_copies_grouped()), 200


@bp.get("/api/entities/<kind>/<path:name>")
def api(kind: str, name: str) -> Response:
    """A person's, organisation's or place's stories, timeline, quotes and companions."""
    size = positive_int(request.args, "size", STORIES, 100)
    return jsonify(_fetch_entity(kind, name, size, group_copies=_copies_grouped()))
