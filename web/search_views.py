"""Search: the search page (``/``), ``GET /api/search`` and the autocomplete
(``GET /api/suggest``). The logic: web/search.py (queries and shaping), web/fallback.py
(relaxing and corrections), web/suggest.py; parameters are read by web/params.py."""

from __future__ import annotations

from elasticsearch import ApiError as ESApiError
from elasticsearch import TransportError
from flask import Blueprint, Response, jsonify, render_template, request

from shared.http import ApiError, app_settings
from web.backend import run_search, search_client
from web.params import parse_search_request, positive_int
from web.search import MAX_RESULT_WINDOW
from web.suggest import DEFAULT_SIZE as SUGGEST_SIZE
from web.suggest import MAX_PREFIX_CHARS, suggest
from web.suggest import MAX_SIZE as MAX_SUGGEST_SIZE

bp = Blueprint("search", __name__)


@bp.get("/")
def page() -> tuple[str, int]:
    query = request.args.get("q", "")
    try:
        search = parse_search_request(request.args, app_settings().web_page_size)
        results = run_search(search)
    except ApiError as error:
        return render_template("search.html", query=query, results=None, error=error), error.status
    last_page = max(1, -(-results["total"] // search.size))
    # Numbered pages while Elasticsearch's window allows; a cursor (search_after) past it.
    by_cursor = bool(search.after) or (search.page + 1) * search.size > MAX_RESULT_WINDOW
    return render_template(
        "search.html",
        query=query,
        results=results,
        search=search,
        last_page=last_page,
        by_cursor=by_cursor,
        error=None,
    ), 200


@bp.get("/api/search")
def api() -> Response:
    return jsonify(run_search(parse_search_request(request.args, app_settings().web_page_size)))


@bp.get("/api/suggest")
def api_suggest() -> Response:
    """Titles and names completing what is typed: ``q`` is a prefix of 1 to 100 characters."""
    prefix = request.args.get("q", "")
    if len(prefix) > MAX_PREFIX_CHARS:
        raise ApiError(
            400,
            "Prefix too long",
            f"'q' has at most {MAX_PREFIX_CHARS} characters",
            parameter="q",
        )
    size = positive_int(request.args, "size", SUGGEST_SIZE, MAX_SUGGEST_SIZE)
    if not prefix.strip():
        return jsonify(query=prefix, suggestions=[])
    settings = app_settings()
    try:
        found = suggest(search_client(settings), settings.articles_alias, prefix, size)
    except (ESApiError, TransportError) as error:
        # Nothing typed can make a valid prefix fail: an error here is the index's, not the
        # client's (one made before the suggest field existed, until a worker updates it).
        raise ApiError(503, "Suggestions unavailable", f"Elasticsearch: {error}") from error
    return jsonify(query=prefix, suggestions=found)
