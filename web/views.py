"""HTTP edge of web: the search page, the article page and the JSON API."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from itertools import chain, islice
from typing import Any

from elasticsearch import ApiError as ESApiError
from elasticsearch import Elasticsearch, TransportError
from flask import (
    Blueprint,
    Response,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from werkzeug.datastructures import MultiDict

from shared.clients import get_elasticsearch, get_redis
from shared.flask_metrics import pending
from shared.http import ApiError, app_settings, health_response, json_body
from shared.metrics import SEARCH_SECONDS
from shared.settings import Settings
from web import export, saved
from web.entities import KINDS as ENTITY_KINDS
from web.entities import STORIES as ENTITY_STORIES
from web.entities import entity_profile, invalid_name
from web.fallback import search_with_fallbacks
from web.feeds import FEED_SIZE, atom_feed, json_feed
from web.openapi import openapi_document
from web.search import (
    FACETS,
    FUSION_DEPTH,
    MAX_QUERY_CHARS,
    MAX_RESULT_WINDOW,
    MODES,
    SORTS,
    ExportIncompleteError,
    SearchRequest,
    count_export,
    decode_cursor,
    export_rows,
    get_article,
    place_labels,
    query_problem,
    related_articles,
)
from web.suggest import DEFAULT_SIZE as SUGGEST_SIZE
from web.suggest import MAX_PREFIX_CHARS, suggest
from web.suggest import MAX_SIZE as MAX_SUGGEST_SIZE

ui = Blueprint("ui", __name__)
api = Blueprint("api", __name__, url_prefix="/api")


def _positive_int(args: Mapping[str, str], name: str, default: int, maximum: int) -> int:
    raw = args.get(name, "").strip()
    if not raw:
        return default
    # isdigit() alone takes "²" (int() refuses it), and int() refuses more than 4300 digits.
    digits = raw.lstrip("0")
    if (
        not (raw.isascii() and raw.isdigit())
        or len(digits) > len(str(maximum))
        or not 1 <= int(raw) <= maximum
    ):
        raise ApiError(
            400,
            "Invalid parameter",
            f"'{name}' must be a whole number from 1 to {maximum}",
            parameter=name,
        )
    return int(raw)


MAX_FILTER_VALUES = 20
MAX_FILTER_CHARS = 300


def _date(args: Mapping[str, str], name: str) -> date | None:
    """A day (2025-09-30), or an instant (2025-09-30T14:00, seconds and a UTC offset
    optional; none means UTC) where the time of day matters."""
    raw = args.get(name, "").strip()
    if not raw:
        return None
    try:
        if len(raw) <= 10:
            return date.fromisoformat(raw)
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ApiError(
            400,
            "Invalid parameter",
            f"'{name}' must be a date like 2025-09-30 or a time like 2025-09-30T14:00Z",
            parameter=name,
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# Date presets (``when``): how far back from now. A month is 30 days, a year 365.
DATE_PRESETS = {
    "24h": timedelta(hours=24),
    "week": timedelta(days=7),
    "month": timedelta(days=30),
    "year": timedelta(days=365),
}


def _instant(value: date, end: bool = False) -> datetime:
    """A bound as an instant: a day starts at midnight UTC (ends at its last moment)."""
    if isinstance(value, datetime):
        return value
    moment = datetime(value.year, value.month, value.day, tzinfo=UTC)
    return moment + timedelta(days=1, microseconds=-1) if end else moment


def _dates(args: Mapping[str, str]) -> tuple[date | None, date | None, str | None, bool]:
    """``from``, ``to``, the preset ``when`` (a lower bound relative to now, to the minute so
    that Elasticsearch's request cache can answer repeats for a minute; with ``from`` the
    later of the two applies) and ``undated`` (only the articles without a date)."""
    date_from, date_to = _date(args, "from"), _date(args, "to")
    if date_from and date_to and _instant(date_from) > _instant(date_to, end=True):
        raise ApiError(400, "Invalid parameter", "'from' is after 'to'", parameter="from")
    when = args.get("when") or None  # blank: any time
    if when is not None:
        if when not in DATE_PRESETS:
            detail = f"'when' is one of {', '.join(DATE_PRESETS)}"
            raise ApiError(400, "Invalid parameter", detail, parameter="when")
        since = datetime.now(UTC).replace(second=0, microsecond=0) - DATE_PRESETS[when]
        date_from = since if date_from is None else max(_instant(date_from), since)
    # With a date range too, nothing matches: an article without a date is in no range.
    return date_from, date_to, when, _flag(args, "undated")


FLAGS = ("", "0", "1", "true", "false", "on", "off")  # blank: absent


def _flag(args: Mapping[str, str], name: str) -> bool:
    raw = args.get(name, "")
    if raw not in FLAGS:
        raise ApiError(400, "Invalid parameter", f"'{name}' is 1 or 0", parameter=name)
    return raw in ("1", "true", "on")


def _filters(args: MultiDict[str, str]) -> dict[str, tuple[str, ...]]:
    filters: dict[str, tuple[str, ...]] = {}
    for name in FACETS:
        values = tuple(dict.fromkeys(v.strip() for v in args.getlist(name) if v.strip()))
        if len(values) > MAX_FILTER_VALUES or any(len(v) > MAX_FILTER_CHARS for v in values):
            detail = (
                f"'{name}' takes at most {MAX_FILTER_VALUES} values of {MAX_FILTER_CHARS} chars"
            )
            raise ApiError(400, "Invalid parameter", detail, parameter=name)
        if values:
            filters[name] = values
    return filters


def parse_search_request(args: MultiDict[str, str], default_size: int) -> SearchRequest:
    query = args.get("q", "")
    problem = query_problem(query)
    if problem:
        # Saved searches come through here too: a query refused here is never stored as an
        # alert that would run at every batch.
        title = "Query too long" if len(query) > MAX_QUERY_CHARS else "Query too expensive"
        raise ApiError(400, title, problem, parameter="q")
    size = _positive_int(args, "size", default_size, 100)
    page = _positive_int(args, "page", 1, MAX_RESULT_WINDOW)
    if page * size > MAX_RESULT_WINDOW and not args.get("after"):
        raise ApiError(
            400,
            "Page too deep",
            f"page × size may not pass {MAX_RESULT_WINDOW}; page on with 'after' (next_after)",
            parameter="page",
        )
    mode = args.get("mode", "hybrid")
    if mode not in MODES:
        raise ApiError(
            400, "Invalid parameter", f"'mode' is one of {', '.join(MODES)}", parameter="mode"
        )
    sort = args.get("sort", "relevance")
    if sort not in SORTS:
        raise ApiError(
            400, "Invalid parameter", f"'sort' is one of {', '.join(SORTS)}", parameter="sort"
        )
    after: tuple[Any, ...] = ()
    if args.get("after"):
        try:
            after = tuple(decode_cursor(args["after"]))
        except ValueError:
            raise ApiError(
                400,
                "Invalid parameter",
                "'after' is not a cursor from next_after",
                parameter="after",
            ) from None
    group = args.get("group", "on")
    if group not in ("on", "off"):
        raise ApiError(400, "Invalid parameter", "'group' is on or off", parameter="group")
    date_from, date_to, when, undated = _dates(args)
    if mode != "keyword" and query.strip() and sort == "relevance" and page * size > FUSION_DEPTH:
        raise ApiError(
            400,
            "Page too deep",
            f"{mode} search ranks the best {FUSION_DEPTH} matches; use mode=keyword to go deeper",
            parameter="page",
        )
    return SearchRequest(
        query=query,
        page=page,
        size=size,
        filters=_filters(args),
        date_from=date_from,
        date_to=date_to,
        sort=sort,
        after=after,
        mode=mode,
        group=group == "on",
        exact=_flag(args, "exact"),
        when=when,
        undated=undated,
    )


def embed_query(text: str) -> list[float]:
    """The query's vector, from the same model and code as the articles' (loaded on first use:
    about 180 MB per web process)."""
    return list(_query_vector(text))


@lru_cache(maxsize=1024)
def _query_vector(text: str) -> tuple[float, ...]:
    # Page 2, a facet click, the feeds and the export repeat the query: ~20 ms saved each time
    # (1,024 vectors: about 12 MB per process).
    from embedding import embed_texts

    return tuple(embed_texts([text])[0])


def search_client(settings: Settings) -> Elasticsearch:
    """The Elasticsearch client for searches: it stops waiting at twice the search timeout
    (Elasticsearch itself answers with partial results at the timeout; this catches what the
    timeout does not cover, such as expanding prefixes and highlighting)."""
    return get_elasticsearch(settings).options(request_timeout=2 * settings.search_timeout_s)


@contextmanager
def _search_errors() -> Iterator[None]:
    """Elasticsearch's refusals and outages as problems: 400 for a search it calls invalid,
    503 for the rest."""
    try:
        yield
    except ExportIncompleteError as error:  # an export's count or first page timed out
        raise ApiError(503, "Search unavailable", str(error)) from error
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


def _run_search(search: SearchRequest) -> dict[str, Any]:
    settings = app_settings()
    started = time.perf_counter()
    with _search_errors():
        found = search_with_fallbacks(
            search_client(settings),
            settings.articles_alias,
            search,
            embed_query,
            timeout_s=settings.search_timeout_s,
            highlight_max_chars=settings.search_highlight_max_chars,
        )
    # Written to Redis with the request's other metrics, after the answer.
    pending().observe(
        SEARCH_SECONDS,
        time.perf_counter() - started,
        mode=search.mode if search.ranked_by_meaning else "keyword",
    )
    return found


def _fetch_related(article: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    settings = app_settings()
    try:
        return related_articles(search_client(settings), settings.articles_alias, article)
    except TransportError as error:
        raise ApiError(503, "Related stories unavailable", f"Elasticsearch: {error}") from error


def _fetch_article(article_id: str) -> dict[str, Any]:
    settings = app_settings()
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

FACET_LABELS = {
    "source": "Source",
    "people": "People",
    "organisations": "Organisations",
    "places": "Places",
    "keywords": "Keywords",
    "country": "Dateline country",
    "language": "Language",
}


def _search_url(
    base: Mapping[str, list[str]] | None = None, /, **changes: str | list[str] | None
) -> str:
    """The current search (or the search ``base``, as {parameter: values}) with some
    parameters changed (None removes one); back to page 1."""
    args: MultiDict[str, str] = request.args.copy() if base is None else MultiDict(base)
    if "page" not in changes:
        args.pop("page", None)
    for name, value in changes.items():
        if value is None or value == []:
            args.pop(name, None)
        elif isinstance(value, list):
            args.setlist(name, value)
        else:
            args[name] = value
    query: dict[str, Any] = args.to_dict(flat=False)
    return url_for("ui.search_page", **query)


def _export_url(export_format: str, total: int = 0) -> str:
    """This search's whole result set as a file; its first NEWSROOM_EXPORT_MAX_ROWS rows when
    it has ``total`` articles, more than an export writes."""
    args = request.args.copy()
    for paging in ("page", "after", "size", "limit"):
        args.pop(paging, None)
    args["format"] = export_format
    if total > app_settings().export_max_rows:
        args["limit"] = str(app_settings().export_max_rows)
    query: dict[str, Any] = args.to_dict(flat=False)
    return url_for("api.api_export", **query)


def _feed_url(kind: str) -> str:
    """This search as an Atom or JSON feed."""
    args = request.args.copy()
    for paging in ("page", "after", "size", "sort", "mode"):
        args.pop(paging, None)
    query: dict[str, Any] = args.to_dict(flat=False)
    return url_for("ui.atom_feed_page" if kind == "atom" else "ui.json_feed_page", **query)


def _toggle_url(name: str, value: str) -> str:
    """The current search with one facet value added, or removed when it is selected."""
    values = request.args.getlist(name)
    values = [v for v in values if v != value] if value in values else [*values, value]
    return _search_url(**{name: values})


_MONTHS_IN = {"month": 1, "quarter": 3, "year": 12}


def _period_end(start: date, interval: str) -> date:
    """The last day of the calendar interval that starts on ``start``."""
    if interval == "day":
        return start
    if interval == "week":
        return start + timedelta(days=6)
    month = start.month - 1 + _MONTHS_IN.get(interval, 1)
    return date(start.year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


def timeline_bars(
    timeline: Mapping[str, Any], base: Mapping[str, list[str]] | None = None
) -> list[dict[str, Any]]:
    """Each bucket with its date range and a link that narrows the search (the current one,
    or ``base``: see ``_search_url``) to it."""
    buckets = timeline.get("buckets") or []
    top = max((b["count"] for b in buckets), default=0) or 1
    bars = []
    for bucket in buckets:
        start = date.fromisoformat(bucket["date"])
        end = _period_end(start, timeline.get("interval") or "month")
        bars.append(
            {
                "start": start.isoformat(),
                "end": end.isoformat(),
                "count": bucket["count"],
                "height": round(100 * bucket["count"] / top, 1),
                "url": _search_url(base, **{"from": start.isoformat(), "to": end.isoformat()}),
            }
        )
    return bars


@ui.app_context_processor
def _search_helpers() -> dict[str, Any]:
    return {
        "search_url": _search_url,
        "toggle_url": _toggle_url,
        "export_url": _export_url,
        "export_max_rows": app_settings().export_max_rows,
        "feed_url": _feed_url,
        "facet_labels": FACET_LABELS,
        "timeline_bars": timeline_bars,
        # Facet name -> the kind of its entity pages ("people" -> "person").
        "entity_kinds": {facet: kind for kind, facet in ENTITY_KINDS.items()},
        "sorts": SORTS,
    }


@ui.get("/")
def search_page() -> tuple[str, int]:
    query = request.args.get("q", "")
    try:
        search = parse_search_request(request.args, app_settings().web_page_size)
        results = _run_search(search)
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


def _feed_search() -> tuple[str, list[dict[str, Any]]]:
    """The page's search as a feed: the newest matches first (keyword matching), every copy of a
    story its own entry (a feed is a stream of articles: readers keep what they have seen by
    id, and a new copy from another outlet is news to them)."""
    search = replace(
        parse_search_request(request.args, app_settings().web_page_size),
        page=1,
        size=FEED_SIZE,
        sort="newest",
        mode="keyword",
        after=(),
        group=False,
    )
    query = search.query.strip()
    title = f"Newsroom: {query}" if query else "Newsroom: newest articles"
    return title, _run_search(search)["hits"]


def _article_link(article_id: str) -> str:
    return url_for("ui.article_page", article_id=article_id, _external=True)


@ui.get("/feed.atom")
def atom_feed_page() -> Response:
    title, hits = _feed_search()
    page_url = request.url_root.rstrip("/") + _search_url()
    body = atom_feed(title, request.url, page_url, hits, _article_link)
    return Response(body, mimetype="application/atom+xml")


@ui.get("/feed.json")
def json_feed_page() -> Response:
    title, hits = _feed_search()
    page_url = request.url_root.rstrip("/") + _search_url()
    response = jsonify(json_feed(title, request.url, page_url, hits, _article_link))
    response.mimetype = "application/feed+json"
    return response


@ui.get("/articles/<article_id>")
def article_page(article_id: str) -> tuple[str, int]:
    try:
        article = _fetch_article(article_id)
    except ApiError as error:
        return render_template("error.html", error=error), error.status
    paragraphs = body_paragraphs(article.get("body") or "")
    related = _fetch_related(article)
    return render_template(
        "article.html", article=article, paragraphs=paragraphs, related=related
    ), 200


def body_paragraphs(body: str) -> list[str]:
    """The paragraphs of a stored body: each non-blank line, indentation dropped. A body posted
    hard-wrapped is stored reflowed (``body_reflowed``), one paragraph a line, its paragraphs
    kept apart by the blank lines or indented first lines it came with; an older body was
    posted one paragraph a line, with or without blank lines between, and reads as before."""
    return [part.strip() for part in body.split("\n") if part.strip()]


def _copies_grouped() -> bool:
    """Copies of a story (one near-duplicate cluster) are one entry unless ``group=off``."""
    return request.args.get("group") != "off"


def _fetch_entity(
    kind: str, name: str, size: int = ENTITY_STORIES, *, group_copies: bool = True
) -> dict[str, Any]:
    if kind not in ENTITY_KINDS:
        raise ApiError(404, "Not found", f"entity kinds are {', '.join(ENTITY_KINDS)}")
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


@ui.get("/entities/<kind>/<path:name>")
def entity_page(kind: str, name: str) -> tuple[str, int] | Response:
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
        return make_response(redirect(url_for("ui.entity_page", kind=kind, name=place_id), 301))
    return render_template("entity.html", profile=profile, grouped=_copies_grouped()), 200


# --- saved searches with alerts (the logic is in web/saved.py) -------------------------------


def _saved_urls(saved_id: str) -> dict[str, str]:
    return {
        "page": url_for("ui.saved_page", saved_id=saved_id, _external=True),
        "atom": url_for("ui.saved_atom_feed", saved_id=saved_id, _external=True),
        "json": url_for("ui.saved_json_feed", saved_id=saved_id, _external=True),
        "api": url_for("api.api_saved_search", saved_id=saved_id, _external=True),
    }


def _create_saved(entry: saved.SavedSearchInput) -> saved.Created:
    settings = app_settings()
    search = parse_search_request(entry.search_args, settings.web_page_size)
    return saved.create_saved_search(
        get_redis(settings),
        settings,
        search,
        entry,
        embed=embed_query,
        urls_for=_saved_urls,
        place_labels=_place_labels([{"params": {"filters": search.filters}}]),
    )


def _saved_detail(saved_id: str) -> dict[str, Any]:
    settings = app_settings()
    return saved.detail(get_redis(settings), settings, saved_id)


def _saved_page(saved_id: str, status: int = 200, **extra: Any) -> Response:
    """One saved search's page; ``extra`` carries the one-time token or an error."""
    try:
        found = _saved_detail(saved_id)
    except ApiError as error:
        return make_response(render_template("error.html", error=error), error.status)
    page = render_template(
        "saved.html",
        saved=found,
        search_args=saved.search_page_args(found["params"]),
        place_labels=_place_labels([found]),
        **extra,
    )
    response = make_response(page, status)
    response.headers["Cache-Control"] = "no-store"  # it may show the token
    return response


def _cross_site() -> Response | None:
    """Forms that change state are taken only from this site's own pages."""
    if saved.same_origin(request.headers, request.host):
        return None
    error = ApiError(403, "Forbidden", "this form is accepted only from this site's own pages")
    return make_response(render_template("error.html", error=error), 403)


@ui.get("/saved")
def saved_list_page() -> tuple[str, int]:
    settings = app_settings()
    try:
        searches = saved.list_saved(get_redis(settings), settings.index_prefix)
    except ApiError as error:
        return render_template("error.html", error=error), error.status
    labels = _place_labels(searches)
    return render_template("saved_list.html", searches=searches, place_labels=labels), 200


def _place_labels(searches: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Names for the place ids that saved searches filter on; ids are shown bare when the index
    cannot be read (the page still lists the searches)."""
    ids = [v for s in searches for v in s["params"].get("filters", {}).get("places", [])]
    if not ids:
        return {}
    settings = app_settings()
    try:
        return place_labels(search_client(settings), settings.articles_alias, ids)
    except (ESApiError, TransportError):
        return {}


@ui.post("/saved")
def saved_create_page() -> Response:
    refused = _cross_site()
    if refused:
        return refused
    try:
        created = _create_saved(saved.read_input(None, request.form, is_json=False))
    except ApiError as error:
        return make_response(render_template("error.html", error=error), error.status)
    return _saved_page(created.search.id, 201, created=saved.created_body(created))


@ui.get("/saved/<saved_id>")
def saved_page(saved_id: str) -> Response:
    return _saved_page(saved_id)


@ui.post("/saved/<saved_id>/delete")
def saved_delete_page(saved_id: str) -> Response:
    refused = _cross_site()
    if refused:
        return refused
    settings = app_settings()
    try:
        token = request.form.get("token", "").strip()
        saved.delete(get_redis(settings), settings.index_prefix, saved_id, token)
    except ApiError as error:
        if error.status == 403:
            return _saved_page(saved_id, 403, error=error)
        return make_response(render_template("error.html", error=error), error.status)
    return make_response(redirect(url_for("ui.saved_list_page"), 303))


def _saved_feed(saved_id: str) -> tuple[str, str, list[dict[str, Any]]]:
    found = _saved_detail(saved_id)
    hits = saved.feed_hits(found["matches"][:FEED_SIZE])
    return f"Newsroom alert: {found['name']}", found["urls"]["page"], hits


@ui.get("/saved/<saved_id>/feed.atom")
def saved_atom_feed(saved_id: str) -> Response:
    title, page_url, hits = _saved_feed(saved_id)
    body = atom_feed(title, request.url, page_url, hits, _article_link)
    return Response(body, mimetype="application/atom+xml")


@ui.get("/saved/<saved_id>/feed.json")
def saved_json_feed(saved_id: str) -> Response:
    title, page_url, hits = _saved_feed(saved_id)
    response = jsonify(json_feed(title, request.url, page_url, hits, _article_link))
    response.mimetype = "application/feed+json"
    return response


@ui.get("/healthz")
def healthz() -> tuple[Response, int]:
    return health_response(app_settings())


# --- JSON API --------------------------------------------------------------------------------


@api.get("/search")
def api_search() -> Response:
    return jsonify(_run_search(parse_search_request(request.args, app_settings().web_page_size)))


@api.get("/articles/<article_id>")
def api_article(article_id: str) -> Response:
    return jsonify(_fetch_article(article_id))


@api.get("/export")
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
    limit = _positive_int(request.args, "limit", 0, max_rows) or None
    es = search_client(settings)
    # Counted before the answer starts, so a refusal or an outage is still a problem answer.
    with _search_errors():
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
    with _search_errors():
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


@api.get("/suggest")
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
    size = _positive_int(request.args, "size", SUGGEST_SIZE, MAX_SUGGEST_SIZE)
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


@api.post("/saved-searches")
def api_saved_create() -> tuple[Response, int]:
    """A JSON object ({name, q, filters, from, to, mode, webhook_url}) or /api/search's query
    parameters plus name and webhook_url. The answer holds the token, shown only here."""
    body = json_body() if request.is_json else None
    created = _create_saved(saved.read_input(body, request.values, is_json=request.is_json))
    response = jsonify(saved.created_body(created))
    response.headers["Location"] = created.search.urls["api"]
    response.headers["Cache-Control"] = "no-store"
    return response, 201


@api.get("/saved-searches")
def api_saved_list() -> Response:
    settings = app_settings()
    return jsonify(saved_searches=saved.list_saved(get_redis(settings), settings.index_prefix))


@api.get("/saved-searches/<saved_id>")
def api_saved_search(saved_id: str) -> Response:
    return jsonify(_saved_detail(saved_id))


@api.delete("/saved-searches/<saved_id>")
def api_saved_delete(saved_id: str) -> Response:
    settings = app_settings()
    token = saved.token_from_headers(request.headers)
    saved.delete(get_redis(settings), settings.index_prefix, saved_id, token)
    return Response(status=204)


@api.get("/openapi.json")
def api_openapi() -> Response:
    return jsonify(openapi_document(app_settings().export_max_rows))


@api.get("/articles/<article_id>/related")
def api_related(article_id: str) -> Response:
    """``related``: stories like this one; ``same_story``: its near-duplicate cluster."""
    return jsonify(_fetch_related(_fetch_article(article_id)))


@api.get("/entities/<kind>/<path:name>")
def api_entity(kind: str, name: str) -> Response:
    """A person's, organisation's or place's stories, timeline, quotes and companions."""
    size = _positive_int(request.args, "size", ENTITY_STORIES, 100)
    return jsonify(_fetch_entity(kind, name, size, group_copies=_copies_grouped()))
