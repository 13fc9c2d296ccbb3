"""Articles: an article's page (``/articles/<id>``, with its map and related stories), its
JSON (``GET /api/articles/<id>``) and its related stories (``.../related``). The logic:
web/search.py's ``get_article``, web/related.py, web/maps.py (the map, a template global)."""

from __future__ import annotations

from typing import Any

import redis
from elasticsearch import TransportError
from flask import Blueprint, Response, jsonify, render_template

from shared import takedown
from shared.clients import get_elasticsearch, get_redis
from shared.http import ApiError, app_settings
from web.backend import search_client
from web.related import RelatedStories, related_stories
from web.search import get_article

bp = Blueprint("articles", __name__)


def fetch_article(article_id: str) -> dict[str, Any]:
    """The stored article; a 404 problem when there is none, 410 when an admin took it down
    (shared/takedown.py; with the reason), a 503 without Elasticsearch or Redis."""
    settings = app_settings()
    try:
        removed = takedown.get(get_redis(settings), settings, article_id)
    except redis.RedisError as error:
        raise ApiError(503, "Article unavailable", f"Redis is unreachable: {error}") from error
    if removed is not None:
        raise ApiError(410, "Gone", f"This article was {takedown.refusal_message(removed)}")
    try:
        article = get_article(get_elasticsearch(settings), settings.articles_alias, article_id)
    except TransportError as error:
        raise ApiError(
            503, "Article unavailable", f"Elasticsearch is unreachable: {error}"
        ) from error
    if article is None:
        raise ApiError(404, "Not found", f"no article with id {article_id}")
    return article


def fetch_related(article: dict[str, Any]) -> RelatedStories:
    settings = app_settings()
    try:
        return related_stories(search_client(settings), settings.articles_alias, article)
    except TransportError as error:
        raise ApiError(503, "Related stories unavailable", f"Elasticsearch: {error}") from error


def body_paragraphs(body: str) -> list[str]:
    """The paragraphs of a stored body: each non-blank line, indentation dropped. A body posted
    hard-wrapped is stored reflowed (``body_reflowed``), one paragraph a line, its paragraphs
    kept apart by the blank lines or indented first lines it came with; an older body was
    posted one paragraph a line, with or without blank lines between, and reads as before."""
    return [part.strip() for part in body.split("\n") if part.strip()]


@bp.get("/articles/<article_id>")
def page(article_id: str) -> tuple[str, int]:
    try:
        article = fetch_article(article_id)
    except ApiError as error:
        return render_template("error.html", error=error), error.status
    paragraphs = body_paragraphs(article.get("body") or "")
    related = fetch_related(article)
    return render_template(
        "article.html", article=article, paragraphs=paragraphs, related=related
    ), 200


@bp.get("/api/articles/<article_id>")
def api(article_id: str) -> Response:
    return jsonify(fetch_article(article_id))


@bp.get("/api/articles/<article_id>/related")
def api_related(article_id: str) -> Response:
    """``related``: stories like this one; ``same_story``: its near-duplicate cluster."""
    return jsonify(fetch_related(fetch_article(article_id)))
