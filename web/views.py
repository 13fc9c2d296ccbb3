"""HTTP edge of web: the search page, the article page and the JSON API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from elasticsearch import ApiError as ESApiError
from elasticsearch import TransportError
from flask import Blueprint, Response, current_app, jsonify, render_template, request

from shared.clients import get_elasticsearch
from shared.http import ApiError, health_response
from shared.settings import Settings
from web.search import (
    MAX_QUERY_CHARS,
    MAX_RESULT_WINDOW,
    SearchRequest,
    get_article,
    search_articles,
)

ui = Blueprint("ui", __name__)
api = Blueprint("api", __name__, url_prefix="/api")


def _settings() -> Settings:
    settings: Settings = current_app.extensions["newsroom_settings"]
    return settings


def _positive_int(args: Mapping[str, str], name: str, default: int, maximum: int) -> int:
    raw = args.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise ApiError(
            400,
            "Invalid parameter",
            f"'{name}' must be a whole number from 1 to {maximum}",
            parameter=name,
        )
    return int(raw)


def parse_search_request(args: Mapping[str, str], default_size: int) -> SearchRequest:
    query = args.get("q", "")
    if len(query) > MAX_QUERY_CHARS:
        raise ApiError(
            400,
            "Query too long",
            f"a query has at most {MAX_QUERY_CHARS} characters",
            parameter="q",
        )
    size = _positive_int(args, "size", default_size, 100)
    page = _positive_int(args, "page", 1, MAX_RESULT_WINDOW)
    if page * size > MAX_RESULT_WINDOW:
        raise ApiError(
            400,
            "Page too deep",
            f"page × size may not pass {MAX_RESULT_WINDOW}; narrow the search",
            parameter="page",
        )
    return SearchRequest(query=query, page=page, size=size)


def _run_search(search: SearchRequest) -> dict[str, Any]:
    settings = _settings()
    try:
        return search_articles(get_elasticsearch(settings), settings.articles_alias, search)
    except ESApiError as error:
        if error.meta.status in (400, 404):
            # simple_query_string should not fail, but a client error is never a 500.
            raise ApiError(400, "Invalid search", str(error.message)) from error
        raise ApiError(
            503, "Search unavailable", f"Elasticsearch answered {error.meta.status}"
        ) from error
    except TransportError as error:
        raise ApiError(
            503, "Search unavailable", f"Elasticsearch is unreachable: {error}"
        ) from error


def _fetch_article(article_id: str) -> dict[str, Any]:
    settings = _settings()
    try:
        article = get_article(get_elasticsearch(settings), settings.articles_alias, article_id)
    except TransportError as error:
        raise ApiError(
            503, "Article unavailable", f"Elasticsearch is unreachable: {error}"
        ) from error
    if article is None:
        raise ApiError(404, "Not found", f"no article with id {article_id}")
    return article


# --- pages -----------------------------------------------------------------------------------


@ui.get("/")
def search_page() -> tuple[str, int]:
    query = request.args.get("q", "")
    try:
        search = parse_search_request(request.args, _settings().web_page_size)
        results = _run_search(search)
    except ApiError as error:
        return render_template("search.html", query=query, results=None, error=error), error.status
    last_page = max(1, min(-(-results["total"] // search.size), MAX_RESULT_WINDOW // search.size))
    return render_template(
        "search.html", query=query, results=results, search=search, last_page=last_page, error=None
    ), 200


@ui.get("/articles/<article_id>")
def article_page(article_id: str) -> tuple[str, int]:
    try:
        article = _fetch_article(article_id)
    except ApiError as error:
        return render_template("error.html", error=error), error.status
    paragraphs = [part.strip() for part in article.get("body", "").split("\n") if part.strip()]
    return render_template("article.html", article=article, paragraphs=paragraphs), 200


@ui.get("/healthz")
def healthz() -> tuple[Response, int]:
    return health_response(_settings())


# --- JSON API --------------------------------------------------------------------------------


@api.get("/search")
def api_search() -> Response:
    return jsonify(_run_search(parse_search_request(request.args, _settings().web_page_size)))


@api.get("/articles/<article_id>")
def api_article(article_id: str) -> Response:
    return jsonify(_fetch_article(article_id))
