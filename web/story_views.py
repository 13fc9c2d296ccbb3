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
from web.backend import search_client
from web.stories import MAX_ARTICLES, STORY_ID, Story, get_story, map_article

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
        shown = story_id if STORY_ID.fullmatch(story_id) else f"of {len(story_id)} characters"
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
        max_articles=MAX_ARTICLES,
    ), 200


@bp.get("/api/stories/<story_id>")
def api(story_id: str) -> Response:
    """A merged-away id answers with the live story (``id``), naming itself in ``requested``."""
    return jsonify(fetch_story(story_id))


_STORY_ID_PARAM = {
    "name": "story_id",
    "in": "path",
    "required": True,
    "description": "s followed by the id of the article that started the story",
    "schema": {"type": "string", "pattern": f"^{STORY_ID.pattern}$"},
}
_NAMED_COUNTS = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "count": {"type": "integer"}},
        "required": ["name", "count"],
    },
}
_STORY_ARTICLE = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "title": {"type": ["string", "null"]},
        "url": {"type": ["string", "null"]},
        "source": {"type": ["string", "null"]},
        "published_at": {"type": ["string", "null"]},
        "seen_at": {"type": ["string", "null"], "description": "when its news happened"},
        "cluster_id": {"type": ["string", "null"], "description": "its near-duplicate cluster"},
        "added": {
            "type": "object",
            "description": "the people, places and quotes none of the earlier articles had",
            "properties": {
                "people": {"type": "array", "items": {"type": "string"}},
                "places": {"type": "array", "items": {"type": "string"}},
                "quotes": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "speaker": {"type": ["string", "null"]},
                            "text": {"type": "string"},
                        },
                    },
                },
            },
        },
    },
    "required": ["id", "added"],
}
# web/openapi.py adds these to the document.
OPENAPI_PATHS: dict[str, Any] = {
    "/api/stories/{story_id}": {
        "get": {
            "summary": "A story: its articles over time, by source and near-duplicate cluster",
            "description": (
                "One event reported over days by several outlets (issue 17). The articles "
                "are those of the index now (oldest first, by seen_at), the story's own and "
                "those of the stories merged into it; the lists, places and what each "
                f"article added cover the first {MAX_ARTICLES} (truncated says when there "
                "were more). An id merged into another story answers with the live story: "
                "its id in id, the id asked for in requested."
            ),
            "parameters": [_STORY_ID_PARAM],
            "responses": {
                "200": {
                    "description": "The story",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "id": {"type": "string"},
                                    "requested": {"type": ["string", "null"]},
                                    "title": {"type": ["string", "null"]},
                                    "first_seen": {"type": ["string", "null"]},
                                    "last_updated": {"type": ["string", "null"]},
                                    "article_count": {"type": "integer"},
                                    "sources": _NAMED_COUNTS,
                                    "merged": {"type": "array", "items": {"type": "string"}},
                                    "coverage": {
                                        "type": "object",
                                        "properties": {
                                            "interval": {"type": "string"},
                                            "sources": {
                                                "type": "array",
                                                "items": {"type": "string"},
                                            },
                                            "buckets": {
                                                "type": "array",
                                                "items": {
                                                    "type": "object",
                                                    "properties": {
                                                        "date": {"type": "string"},
                                                        "count": {"type": "integer"},
                                                        "sources": _NAMED_COUNTS,
                                                    },
                                                },
                                            },
                                            "other": {
                                                "type": "array",
                                                "items": {"type": "integer"},
                                            },
                                        },
                                    },
                                    "first_report": {"anyOf": [_STORY_ARTICLE, {"type": "null"}]},
                                    "groups": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "cluster_id": {"type": ["string", "null"]},
                                                "articles": {
                                                    "type": "array",
                                                    "items": _STORY_ARTICLE,
                                                },
                                            },
                                        },
                                    },
                                    "quoted": _NAMED_COUNTS,
                                    "places": {"type": "array", "items": {"type": "object"}},
                                    "articles_read": {"type": "integer"},
                                    "truncated": {"type": "boolean"},
                                },
                                "required": ["id", "article_count", "groups", "truncated"],
                            }
                        }
                    },
                },
                "404": {"$ref": "#/components/responses/Problem"},
                "503": {"$ref": "#/components/responses/Problem"},
            },
        }
    }
}
