"""Feeds and exports: any search as an Atom or JSON feed (``/feed.atom``, ``/feed.json``) and
its whole result set as a file (``GET /api/export``). The logic: web/feeds.py, web/export.py and
web/search.py's ``count_export``/``export_rows``."""

from __future__ import annotations

from dataclasses import replace
from itertools import chain, islice

from flask import Blueprint, Response, jsonify, request, stream_with_context

from shared.http import ApiError, app_settings
from web import export, feeds
from web.backend import run_search, search_client, search_errors
from web.links import article_link, search_url
from web.params import parse_search_request, positive_int
from web.search import SearchHit, count_export, export_rows

bp = Blueprint("feeds", __name__)


def _feed_search() -> tuple[str, list[SearchHit]]:
    """The page's search as a feed: the newest matches first (keyword matching), every copy of a
    story its own entry (a feed is a stream of articles: readers keep what they have seen by
    id, and a new copy from another outlet is news to them)."""
    search = replace(
        parse_search_request(request.args, app_settings().web_page_size),
        page=1,
        size=feeds.FEED_SIZE,
        sort="newest",
        mode="keyword",
        after=(),
        group=False,
    )
    query = search.query.strip()
    title = f"Newsroom: {query}" if query else "Newsroom: newest articles"
    return title, run_search(search)["hits"]


@bp.get("/feed.atom")
def atom_feed() -> Response:
    title, hits = _feed_search()
    page_url = request.url_root.rstrip("/") + search_url()
    body = feeds.atom_feed(title, request.url, page_url, hits, article_link)
    return Response(body, mimetype="application/atom+xml")


@bp.get("/feed.json")
def json_feed() -> Response:
    title, hits = _feed_search()
    page_url = request.url_root.rstrip("/") + search_url()
    response = jsonify(feeds.json_feed(title, request.url, page_url, hits, article_link))
    response.mimetype = "application/feed+json"
    return response


@bp.get("/api/export")
def api_export() -> Response:
    """The whole result set of a search, streamed: ``format=csv`` (lists joined by "; ", cells
    a spreadsheet would run as formulas prefixed with ') or ``format=ndjson``. Takes the
    search's parameters; matching is by keyword. At most NEWSROOM_EXPORT_MAX_ROWS rows: a
    search matching more is refused unless ``limit`` asks for its first rows."""
    export_format = request.args.get("format", "csv")
    if export_format not in export.FORMATS:
        raise ApiError(400, "Invalid parameter", "'format' is csv or ndjson", parameter="format")
    settings = app_settings()
    search = parse_search_request(request.args, settings.web_page_size)
    max_rows = settings.export_max_rows
    limit = positive_int(request.args, "limit", 0, max_rows) or None
    es = search_client(settings)
    # Counted before the answer starts, so a refusal or an outage is still a problem answer.
    with search_errors():
        matching, exact = count_export(
            es, settings.articles_alias, search, max_rows + 1, settings.search_timeout_s
        )
    if limit is None and (matching > max_rows or not exact):
        raise ApiError(
            400,
            "Export too large",
            f"{f'{matching:,}' if exact else f'more than {max_rows:,}'} articles match and an "
            f"export writes at most {max_rows:,} rows: narrow the search, or ask for its first "
            f"rows with limit={max_rows}",
            parameter="limit",
        )
    rows_out = min(matching, limit or max_rows)
    rows = export_rows(
        es, settings.articles_alias, search, limit=rows_out, timeout_s=settings.search_timeout_s
    )
    # The first page too is read before the answer starts: a server sends the status with the
    # first bytes, so a failure here would otherwise be its bare 500. A later page that fails
    # cuts the transfer off (ExportIncompleteError or the client's error, raised mid-stream).
    with search_errors():
        first = list(islice(rows, 1))
    rows = chain(first, rows)
    lines = export.csv_lines(rows) if export_format == "csv" else export.ndjson_lines(rows)
    response = Response(stream_with_context(lines), mimetype=export.FORMATS[export_format])
    response.headers["Content-Disposition"] = (
        f'attachment; filename="newsroom-export.{export_format}"'
    )
    # What the file holds, as matched when it started (articles indexed meanwhile may or may
    # not be in it), and the bound.
    response.headers["X-Export-Rows"] = str(rows_out)
    response.headers["X-Export-Max-Rows"] = str(max_rows)
    return response
