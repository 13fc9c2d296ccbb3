"""Saved searches with alerts: their pages (``/saved``, ``/saved/<id>``, creating and deleting
by form), their feeds (``/saved/<id>/feed.atom|json``; the private feed URLs
``/saved/<id>/feed/<key>.atom|json``, for feed readers without a session) and their JSON API
(``/api/saved-searches``). The logic: web/saved.py, over shared/saved_searches.py's records.
Reading follows the saved search's owner and ``shared`` flag (web/saved.py); saving, changing
and deleting need an editor (web/auth.py), and its owner or an admin."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

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

from shared.clients import get_redis
from shared.http import ApiError, app_settings, json_body
from shared.saved_searches import SavedSearch
from web import feeds, saved
from web.audit_views import audit
from web.auth import current_account, require
from web.backend import embed_query, search_client
from web.links import article_link
from web.params import parse_search_request
from web.search import place_labels

bp = Blueprint("saved", __name__)


def _saved_urls(saved_id: str) -> dict[str, str]:
    return {
        "page": url_for("saved.page", saved_id=saved_id, _external=True),
        "atom": url_for("saved.atom_feed", saved_id=saved_id, _external=True),
        "json": url_for("saved.json_feed", saved_id=saved_id, _external=True),
        "api": url_for("saved.api", saved_id=saved_id, _external=True),
    }


def _private_feed_urls(saved_id: str, key: str) -> dict[str, str]:
    return {
        "atom": url_for("saved.keyed_atom_feed", saved_id=saved_id, key=key, _external=True),
        "json": url_for("saved.keyed_json_feed", saved_id=saved_id, key=key, _external=True),
    }


def _viewer() -> saved.Viewer:
    account = current_account()
    return saved.Viewer(account.name, account.role) if account else saved.Viewer()


def _create_saved(entry: saved.SavedSearchInput) -> saved.Created:
    settings = app_settings()
    search = parse_search_request(entry.search_args, settings.web_page_size)
    owner = _viewer().name
    assert owner is not None  # require("editor") let the request in
    return saved.create_saved_search(
        get_redis(settings),
        settings,
        search,
        entry,
        owner=owner,
        embed=embed_query,
        urls_for=_saved_urls,
        place_labels=_place_labels([{"params": {"filters": search.filters}}]),
    )


def _audited(action: str, search: SavedSearch, changed: str | None = None) -> None:
    """The audit event of a saved search's creation or change (its webhook's host only: a
    webhook URL may carry a receiver's secret)."""
    host = urlsplit(search.webhook_url).hostname if search.webhook_url else None
    audit(action, search.id, name=search.name, shared=search.shared, owner=search.owner,
          webhook=host, **({"changed": changed} if changed else {}))  # fmt: skip


def _saved_detail(saved_id: str) -> dict[str, Any]:
    settings = app_settings()
    return saved.detail(get_redis(settings), settings, saved_id, _viewer(), _private_feed_urls)


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
    response.headers["Cache-Control"] = "no-store"  # private, and may show the webhook secret
    return response


def _cross_site() -> Response | None:
    """Forms that change state are taken only from this site's own pages."""
    if saved.same_origin(request.headers, request.host):
        return None
    error = ApiError(403, "Forbidden", "this form is accepted only from this site's own pages")
    return make_response(render_template("error.html", error=error), 403)


@bp.get("/saved")
def list_page() -> tuple[str, int]:
    settings = app_settings()
    try:
        searches = saved.list_saved(get_redis(settings), settings.index_prefix, _viewer())
    except ApiError as error:
        return render_template("error.html", error=error), error.status
    labels = _place_labels(searches)
    return render_template("saved_list.html", searches=searches, place_labels=labels), 200


@bp.post("/saved")
@require("editor")
def create_page() -> Response:
    refused = _cross_site()
    if refused:
        return refused
    try:
        created = _create_saved(saved.read_input(None, request.form, is_json=False))
    except ApiError as error:
        return make_response(render_template("error.html", error=error), error.status)
    _audited("saved.create", created.search)
    return _saved_page(created.search.id, 201, created=saved.created_body(created))


@bp.get("/saved/<saved_id>")
def page(saved_id: str) -> Response:
    return _saved_page(saved_id)


def _form_change(saved_id: str, change: Callable[[], object], then: str) -> Response:
    """A form's change to a saved search (from this site's pages only), then off to ``then``;
    a refusal shows the saved search's page again with why."""
    refused = _cross_site()
    if refused:
        return refused
    try:
        changed = change()
    except ApiError as error:
        if error.status in (400, 403):
            return _saved_page(saved_id, error.status, error=error)
        return make_response(render_template("error.html", error=error), error.status)
    if isinstance(changed, tuple):  # saved.change's (search, new secret)
        _audited("saved.edit", changed[0])
    else:
        audit("saved.delete", saved_id)
    return make_response(redirect(then, 303))


@bp.post("/saved/<saved_id>/edit")
@require("editor")
def edit_page(saved_id: str) -> Response:
    """Rename, share or unshare, email or spike alerts on or off (the saved search page's
    form)."""
    settings = app_settings()
    body = {
        "name": request.form.get("name", ""),
        "shared": saved.form_flag(request.form.get("shared")),
        "email_alerts": saved.form_flag(request.form.get("email_alerts")),
        "spike_alerts": saved.form_flag(request.form.get("spike_alerts")),
    }
    return _form_change(
        saved_id,
        lambda: saved.change(get_redis(settings), settings, saved_id, _viewer(), body),
        url_for("saved.page", saved_id=saved_id),
    )


@bp.post("/saved/<saved_id>/delete")
@require("editor")
def delete_page(saved_id: str) -> Response:
    settings = app_settings()
    return _form_change(
        saved_id,
        lambda: saved.delete(get_redis(settings), settings.index_prefix, saved_id, _viewer()),
        url_for("saved.list_page"),
    )


def _saved_feed(saved_id: str) -> tuple[str, str, list[dict[str, Any]]]:
    found = _saved_detail(saved_id)
    hits = saved.feed_hits(found["matches"][: feeds.FEED_SIZE])
    return f"Newsroom alert: {found['name']}", found["urls"]["page"], hits


def _keyed_feed(saved_id: str, key: str) -> tuple[str, str, list[dict[str, Any]]]:
    settings = app_settings()
    search, matches = saved.keyed_matches(get_redis(settings), settings, saved_id, key)
    hits = saved.feed_hits(matches[: feeds.FEED_SIZE])
    return f"Newsroom alert: {search.name}", search.urls.get("page", ""), hits


def _atom(feed: tuple[str, str, list[dict[str, Any]]]) -> Response:
    title, page_url, hits = feed
    body = feeds.atom_feed(title, request.url, page_url, hits, article_link)
    return Response(body, mimetype="application/atom+xml")


def _json(feed: tuple[str, str, list[dict[str, Any]]]) -> Response:
    title, page_url, hits = feed
    response = jsonify(feeds.json_feed(title, request.url, page_url, hits, article_link))
    response.mimetype = "application/feed+json"
    return response


def _unshared(response: Response) -> Response:
    """A private feed's answer: its URL is its credential, so no cache or referrer keeps it."""
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@bp.get("/saved/<saved_id>/feed.atom")
def atom_feed(saved_id: str) -> Response:
    return _atom(_saved_feed(saved_id))


@bp.get("/saved/<saved_id>/feed.json")
def json_feed(saved_id: str) -> Response:
    return _json(_saved_feed(saved_id))


# Public endpoints (web/auth.py): the key in the path is the credential, no session needed.
@bp.get("/saved/<saved_id>/feed/<key>.atom")
def keyed_atom_feed(saved_id: str, key: str) -> Response:
    return _unshared(_atom(_keyed_feed(saved_id, key)))


@bp.get("/saved/<saved_id>/feed/<key>.json")
def keyed_json_feed(saved_id: str, key: str) -> Response:
    return _unshared(_json(_keyed_feed(saved_id, key)))


@bp.post("/saved/<saved_id>/feed-key")
@require("editor")
def feed_key_page(saved_id: str) -> Response:
    """A new private feed URL (the page's form, from this site's pages only); the old one
    stops working. Then back to the page, which shows the new one."""
    refused = _cross_site()
    if refused:
        return refused
    settings = app_settings()
    try:
        saved.new_feed_key(get_redis(settings), settings.index_prefix, saved_id, _viewer())
    except ApiError as error:
        return make_response(render_template("error.html", error=error), error.status)
    audit("saved.feed_key", saved_id)  # the key itself is never recorded
    return make_response(redirect(url_for("saved.page", saved_id=saved_id) + "#private-feed", 303))


@bp.post("/api/saved-searches/<saved_id>/feed-key")
@require("editor")
def api_feed_key(saved_id: str) -> Response:
    """A new private feed URL for a saved search (its owner or an admin); the old one stops
    working at once."""
    settings = app_settings()
    key = saved.new_feed_key(get_redis(settings), settings.index_prefix, saved_id, _viewer())
    audit("saved.feed_key", saved_id)  # the key itself is never recorded
    response = jsonify(private_feed=_private_feed_urls(saved_id, key))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/api/saved-searches")
@require("editor")
def api_create() -> tuple[Response, int]:
    """A JSON object ({name, q, filters, from, to, mode, webhook_url, shared}) or /api/search's
    query parameters plus name and webhook_url. The answer holds the webhook secret, shown only
    here."""
    body = json_body() if request.is_json else None
    created = _create_saved(saved.read_input(body, request.values, is_json=request.is_json))
    _audited("saved.create", created.search)
    response = jsonify(saved.created_body(created))
    response.headers["Location"] = created.search.urls["api"]
    response.headers["Cache-Control"] = "no-store"
    return response, 201


@bp.get("/api/saved-searches")
def api_list() -> Response:
    settings = app_settings()
    searches = saved.list_saved(get_redis(settings), settings.index_prefix, _viewer())
    return jsonify(saved_searches=searches)


@bp.get("/api/saved-searches/<saved_id>")
def api(saved_id: str) -> Response:
    response = jsonify(_saved_detail(saved_id))
    # Its owner's copy carries the private feed's key: kept by no cache.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.patch("/api/saved-searches/<saved_id>")
@require("editor")
def api_change(saved_id: str) -> Response:
    """Rename, share or unshare, change the webhook, turn email or spike alerts on or off:
    {name, shared, webhook_url, email_alerts, spike_alerts}."""
    settings = app_settings()
    given = json_body()
    changed, new_secret = saved.change(get_redis(settings), settings, saved_id, _viewer(), given)
    _audited("saved.edit", changed, changed=",".join(sorted(given)))
    body = changed.public()
    if new_secret:
        body["webhook_secret"] = new_secret  # a new webhook's secret, shown only here
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.delete("/api/saved-searches/<saved_id>")
@require("editor")
def api_delete(saved_id: str) -> Response:
    settings = app_settings()
    saved.delete(get_redis(settings), settings.index_prefix, saved_id, _viewer())
    audit("saved.delete", saved_id)
    return Response(status=204)
