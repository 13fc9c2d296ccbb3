"""Stories (issue 17): a story's page (``/stories/<id>``: coverage over time by source, the first
report, the articles by near-duplicate cluster, who was quoted, the map, what each article
added) and its JSON (``GET /api/stories/<id>``). The logic: web/stories.py; the records:
shared/stories.py."""

from __future__ import annotations

from typing import Any

import redis
from elasticsearch import ApiError as ESApiError
from elasticsearch import TransportError
from flask import Blueprint, Response, jsonify, redirect, render_template, url_for

from shared.clients import get_redis
from shared.http import ApiError, app_settings
from shared.stories import is_story_id
from web.backend import search_client
from web.params import MAX_FILTER_VALUES
from web.stories import Story, get_story, map_article

bp = Blueprint("stories", __name__)


def fetch_story(story_id: str) -> Story:
    """The story (followed to the one it was merged into); a 404 problem when there is none
    (or the id is not a story id), a 503 without Elasticsearch or Redis."""
    settings = app_settings()
    try:
        story = get_story(
            search_client(settings),
            get_redis(settings),
            settings,
            settings.articles_alias,
            story_id,
        )
    except redis.RedisError as error:
        raise ApiError(503, "Story unavailable", f"Redis is unreachable: {error}") from error
    except (ESApiError, TransportError) as error:
        raise ApiError(503, "Story unavailable", f"Elasticsearch: {error}") from error
    if story is None:
        # A malformed id is named only by its length: it may be anything a client sent.
        shown = story_id if is_story_id(story_id) else f"of {len(story_id)} characters"
        raise ApiError(404, "Not found", f"no story with id {shown}")
    return story


@bp.get("/stories/<story_id>")
def page(story_id: str) -> Any:
    try:
        story = fetch_story(story_id)
    except ApiError as error:
        return render_template("error.html", error=error), error.status
    if story["requested"]:
        # Merged into another story: its page is the live story's.
        return redirect(url_for("stories.page", story_id=story["id"]), 301)
    return render_template(
        "story.html",
        story=story,
        story_map=map_article(story),
        # Searches within the story: its id and those merged into it (articles not yet
        # re-stamped keep theirs), as many as a filter takes.
        story_filter=[story["id"], *story["merged"]][:MAX_FILTER_VALUES],
    ), 200


@bp.get("/api/stories/<story_id>")
def api(story_id: str) -> Response:
    """A merged-away id answers with the live story (``id``), naming itself in ``requested``."""
    return jsonify(fetch_story(story_id))
