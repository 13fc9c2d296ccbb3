"""Saved searches with alerts, the web side: read and check what a client sends, compile the
search with the same builder as the search page, store it (shared/saved_searches.py), and shape
its matches for pages and feeds. The worker (worker/alerts.py) runs the stored queries against
each newly indexed batch.

A saved search belongs to the editor who saved it: private by default (only its owner and
admins see it, its page, feeds and JSON), shared with every reader when ``shared`` is set on
purpose. Its owner and admins change and delete it; each user keeps at most
``settings.saved_searches_per_user`` (the service at most ``settings.alerts_max_saved``). Saved
searches from before accounts have no owner: only admins see and delete them. A webhook's
address is never shown beyond its host, even to its owner.

Email alerts go to the owner's own address only (``accounts.User.email``, set by an admin with
``newsroom users set-email``): turning them on needs an SMTP server and that address, so a
saved search can never mail a stranger. Each saved search also has a private feed URL
(``/saved/<id>/feed/<key>.atom``), a 256-bit key that lets a feed reader without a session
follow it; its owner and admins see it on the page and may replace it (the old URL then stops
working at once).
"""

from __future__ import annotations

import html
import ipaddress
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import redis
from werkzeug.datastructures import Headers, MultiDict

from shared import accounts
from shared import saved_searches as store
from shared.http import ApiError
from shared.settings import Settings
from web.facets import FACETS
from web.search import SEMANTIC_MIN_SIMILARITY, SearchRequest, build_match_query

MAX_NAME_CHARS = 100
MAX_WEBHOOK_URL_CHARS = 2_000
# The search parameters a saved search keeps; paging and sorting mean nothing for alerts.
_SEARCH_KEYS = ("q", "from", "to", "mode", *FACETS)
_JSON_KEYS = {
    "name",
    "webhook_url",
    "filters",
    "shared",
    "email_alerts",
    "spike_alerts",
    *_SEARCH_KEYS,
}
# What a change (PATCH) may set; the search itself is saved anew instead.
_CHANGE_KEYS = {"name", "webhook_url", "shared", "email_alerts", "spike_alerts"}
_FORM_TRUE = {"1", "on", "true", "yes"}


@dataclass(frozen=True)
class Viewer:
    """Who asks: a user name and role, or nobody (an anonymous reader)."""

    name: str | None = None
    role: accounts.Role | None = None

    def is_admin(self) -> bool:
        return self.role is not None and accounts.role_allows(self.role, "admin")


@dataclass(frozen=True)
class SavedSearchInput:
    name: str
    webhook_url: str | None
    # As /api/search takes them, for the same parsing and checks (web/params.py).
    search_args: MultiDict[str, str]
    shared: bool = False
    email_alerts: bool = False
    spike_alerts: bool = False


@dataclass(frozen=True)
class Created:
    search: store.SavedSearch


def may_see(search: store.SavedSearch, viewer: Viewer) -> bool:
    return search.shared or may_change(search, viewer)


def may_change(search: store.SavedSearch, viewer: Viewer) -> bool:
    """Its owner and admins (only admins, for one saved before accounts had owners)."""
    if viewer.name is None:
        return False
    return viewer.is_admin() or (search.owner is not None and search.owner == viewer.name)


def form_flag(value: str | None) -> bool:
    """A form's checkbox (or a query parameter): 1, on, true or yes."""
    return (value or "").strip().lower() in _FORM_TRUE


def _shared(body: Mapping[str, Any], name: str = "shared") -> bool:
    value = body.get(name, False)
    if value is None or isinstance(value, bool):
        return bool(value)
    raise _invalid(name, f"'{name}' must be true or false")


def _invalid(parameter: str, detail: str) -> ApiError:
    return ApiError(400, "Invalid parameter", detail, parameter=parameter)


def _string(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None or isinstance(value, str):
        return value
    raise _invalid(name, f"'{name}' must be a string")


def _values(name: str, value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise _invalid(name, f"'{name}' must be a string or a list of strings")


def read_input(body: Any, values: MultiDict[str, str], *, is_json: bool) -> SavedSearchInput:
    """A saved search from a JSON object ({name, q, filters: {source: [...]}, from, to, mode,
    webhook_url}; facets may also stand at the top level) or from form fields / query
    parameters named as /api/search's, plus ``name`` and ``webhook_url``."""
    if not is_json:
        args = MultiDict([(key, value) for key, value in values.items(multi=True)])
        return SavedSearchInput(
            name=args.get("name", ""),
            webhook_url=args.get("webhook_url") or None,
            search_args=_only_search_keys(args),
            shared=form_flag(args.get("shared")),
            email_alerts=form_flag(args.get("email_alerts")),
            spike_alerts=form_flag(args.get("spike_alerts")),
        )
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid body", "the body must be a JSON object")
    unknown = sorted(set(body) - _JSON_KEYS)
    if unknown:
        raise _invalid(unknown[0], f"unknown field(s): {', '.join(unknown)}")
    args = MultiDict[str, str]()
    for name in ("q", "from", "to", "mode"):
        value = _string(body, name)
        if value is not None:
            args[name] = value
    filters = {} if body.get("filters") is None else body["filters"]
    if not isinstance(filters, dict):
        raise _invalid("filters", "'filters' must be an object of facet name to values")
    for name, value in [*filters.items(), *((n, body[n]) for n in FACETS if n in body)]:
        if name not in FACETS:
            raise _invalid("filters", f"unknown facet '{name}'; facets: {', '.join(FACETS)}")
        for item in _values(name, value):
            args.add(name, item)
    return SavedSearchInput(
        name=_string(body, "name") or "",
        webhook_url=_string(body, "webhook_url") or None,
        search_args=args,
        shared=_shared(body),
        email_alerts=_shared(body, "email_alerts"),
        spike_alerts=_shared(body, "spike_alerts"),
    )


def _only_search_keys(args: MultiDict[str, str]) -> MultiDict[str, str]:
    return MultiDict([(k, v) for k, v in args.items(multi=True) if k in _SEARCH_KEYS])


def _address_is_public(host: str) -> bool | None:
    """Whether an IP literal is a public address; None when ``host`` is a name."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global


def check_webhook_url(url: str | None, *, allow_private: bool) -> str | None:
    """An absolute http(s) URL without credentials; with ``allow_private`` off, not to an
    address that is plainly internal. Names are resolved, and every address checked again, at
    each delivery (worker/webhooks.py): checking here only gives early feedback."""
    if url is None or not url.strip():
        return None
    url = url.strip()
    if len(url) > MAX_WEBHOOK_URL_CHARS:
        raise _invalid("webhook_url", f"'webhook_url' has at most {MAX_WEBHOOK_URL_CHARS} chars")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port out of range
    except ValueError:
        raise _invalid("webhook_url", "'webhook_url' is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise _invalid("webhook_url", "'webhook_url' must be an absolute http or https URL")
    if parts.username is not None or parts.password is not None:
        raise _invalid(
            "webhook_url",
            "'webhook_url' may not carry credentials; check the X-Newsroom-Signature instead",
        )
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise _invalid("webhook_url", "'webhook_url' may not contain spaces or control chars")
    host = parts.hostname.lower()
    if not allow_private and (
        host == "localhost" or host.endswith(".localhost") or _address_is_public(host) is False
    ):
        raise _invalid(
            "webhook_url",
            "'webhook_url' points to a loopback or private address, which this service refuses",
        )
    return url


def check_email_alerts(redis_client: redis.Redis, settings: Settings, owner: str | None) -> None:
    """Email alerts may be turned on when this service sends email and the saved search's
    owner has an address (they go to that address only)."""
    if not settings.smtp_host:
        raise _invalid("email_alerts", "this service sends no email (NEWSROOM_SMTP_HOST is unset)")
    with redis_errors():
        user = accounts.get_user(redis_client, settings, owner) if owner else None
    if user is None or not user.email:
        raise _invalid(
            "email_alerts",
            "email alerts go to the owner's own address, and it has none: an admin sets it "
            "with `newsroom users set-email`",
        )


def search_params(search: SearchRequest) -> dict[str, Any]:
    """The saved search as parameters: what /api/search and the search page take."""
    params: dict[str, Any] = {"q": search.query, "mode": search.mode}
    params["filters"] = {name: list(values) for name, values in search.filters.items() if values}
    params["from"] = search.date_from.isoformat() if search.date_from else None
    params["to"] = search.date_to.isoformat() if search.date_to else None
    return params


def search_page_args(params: Mapping[str, Any]) -> dict[str, Any]:
    """Query-string arguments that open a saved search on the search page."""
    args: dict[str, Any] = {"q": params.get("q") or ""}
    if params.get("mode") and params["mode"] != "hybrid":
        args["mode"] = params["mode"]
    for name in ("from", "to"):
        if params.get(name):
            args[name] = params[name]
    args.update({name: list(values) for name, values in (params.get("filters") or {}).items()})
    return args


def _default_name(search: SearchRequest, place_labels: Mapping[str, str]) -> str:
    """The words and the filters, places by name (the filter holds GeoNames ids)."""
    parts = [search.query.strip()] if search.query.strip() else []
    for name, values in search.filters.items():
        shown = [place_labels.get(v, v) if name == "places" else v for v in values]
        parts.append(f"{name}: {' | '.join(shown)}")
    return " · ".join(parts)[:MAX_NAME_CHARS] or "Saved search"


@contextmanager
def redis_errors() -> Iterator[None]:
    """Redis out of reach is the service's trouble, answered 503, never a 500."""
    try:
        yield
    except redis.RedisError as error:
        raise ApiError(503, "Saved searches unavailable", f"Redis: {error}") from error


def _checked_name(name: str) -> str:
    name = " ".join(name.split())
    if len(name) > MAX_NAME_CHARS:
        raise _invalid("name", f"'name' has at most {MAX_NAME_CHARS} characters")
    return name


def create_saved_search(
    redis_client: redis.Redis,
    settings: Settings,
    search: SearchRequest,
    entry: SavedSearchInput,
    *,
    owner: str,
    embed: Callable[[str], list[float]],
    urls_for: Callable[[str], dict[str, str]],
    place_labels: Mapping[str, str] | None = None,
) -> Created:
    """Check, compile and store a saved search. ``embed`` turns the words into a vector for
    semantic and hybrid alerts; ``urls_for(id)`` gives its page, feeds and API addresses;
    ``place_labels`` names the place ids it filters on, for its default name. ``owner``'s
    quota is ``settings.saved_searches_per_user``."""
    name = _checked_name(entry.name)
    webhook_url = check_webhook_url(
        entry.webhook_url, allow_private=settings.alerts_webhook_allow_private
    )
    if entry.email_alerts:
        check_email_alerts(redis_client, settings, owner)
    if not search.query.strip() and not search.filters:
        # Dates alone would match nearly every new article: an alert on everything.
        raise ApiError(
            400,
            "Nothing to match",
            "a saved search needs words ('q') or at least one facet filter",
            parameter="q",
        )
    query, knn_filter = build_match_query(search)
    # Semantic and hybrid alerts also match by meaning, as the search does; with no words to
    # embed, they match as keyword searches.
    vector = embed(search.query) if search.mode != "keyword" and search.query.strip() else None
    search_id = store.new_id()
    saved = store.SavedSearch(
        id=search_id,
        name=name or _default_name(search, place_labels or {}),
        params=search_params(search),
        query=query,
        knn_filter=knn_filter,
        mode=search.mode if vector is not None else "keyword",
        similarity=SEMANTIC_MIN_SIMILARITY if vector is not None else None,
        created_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        urls=urls_for(search_id),
        webhook_url=webhook_url,
        webhook_secret=store.new_token() if webhook_url else None,
        owner=owner,
        shared=entry.shared,
        email_alerts=entry.email_alerts,
        spike_alerts=entry.spike_alerts,
    )
    with redis_errors():
        outcome = store.create(
            redis_client,
            settings.index_prefix,
            saved,
            vector,
            max_saved=settings.alerts_max_saved,
            max_per_owner=settings.saved_searches_per_user,
            feed_key=store.new_feed_key(),
        )
    if outcome == "quota":
        raise ApiError(
            409,
            "Too many saved searches",
            f"each user keeps at most {settings.saved_searches_per_user}; delete one first",
        )
    if outcome == "full":
        raise ApiError(
            409,
            "Too many saved searches",
            f"this service keeps at most {settings.alerts_max_saved}; an admin may delete some",
        )
    return Created(saved)


def created_body(created: Created) -> dict[str, Any]:
    """The answer to a creation: the only time the webhook secret is shown."""
    body = created.search.public()
    if created.search.webhook_secret:
        body["webhook_secret"] = created.search.webhook_secret
    return body


def load(
    redis_client: redis.Redis, prefix: str, search_id: str, viewer: Viewer
) -> store.SavedSearch:
    """The saved search, when ``viewer`` may see it (else 404: a private one's existence is
    not told either)."""
    with redis_errors():
        found = store.get(redis_client, prefix, search_id)
    if found is None or not may_see(found, viewer):
        raise ApiError(404, "Not found", f"no saved search with id {search_id}")
    return found


def list_saved(redis_client: redis.Redis, prefix: str, viewer: Viewer) -> list[dict[str, Any]]:
    """The saved searches ``viewer`` may see: their own and the shared ones (admins: all)."""
    with redis_errors():
        searches = [s for s in store.list_all(redis_client, prefix) if may_see(s, viewer)]
        counts = store.match_counts(redis_client, prefix, [s.id for s in searches])
    return [s.public() | {"match_count": n} for s, n in zip(searches, counts, strict=True)]


def detail(
    redis_client: redis.Redis,
    settings: Settings,
    search_id: str,
    viewer: Viewer,
    feed_urls: Callable[[str, str], dict[str, str]] | None = None,
) -> dict[str, Any]:
    """One saved search with its newest matches and the last webhook and email deliveries;
    for its owner and admins, its private feed's URLs (``feed_urls(id, key)``)."""
    search = load(redis_client, settings.index_prefix, search_id, viewer)
    prefix = settings.index_prefix
    with redis_errors():
        matches = store.recent_matches(redis_client, prefix, search_id, settings.alerts_max_matches)
        delivery = store.get_delivery(redis_client, prefix, search_id)
        emailed = store.get_delivery(redis_client, prefix, search_id, "email")
        spike = store.get_spike(redis_client, prefix, search_id) if search.spike_alerts else None
        key = (
            store.feed_key(redis_client, prefix, search_id) if may_change(search, viewer) else None
        )
    body = search.public()
    if body["webhook"] is not None:
        body["webhook"]["last_delivery"] = delivery
    body["email_delivery"] = emailed if search.email_alerts else None
    body["last_spike"] = spike
    body["matches"] = matches
    body["may_change"] = may_change(search, viewer)
    if body["may_change"]:
        body["private_feed"] = feed_urls(search_id, key) if feed_urls and key else None
    return body


def new_feed_key(redis_client: redis.Redis, prefix: str, search_id: str, viewer: Viewer) -> str:
    """Replace the private feed URL's key (its owner or an admin): the old URL stops working
    at once. Returns the new key."""
    _changeable(redis_client, prefix, search_id, viewer)
    key = store.new_feed_key()
    with redis_errors():
        if not store.set_feed_key(redis_client, prefix, search_id, key):
            raise ApiError(404, "Not found", f"no saved search with id {search_id}")
    return key


def keyed_matches(
    redis_client: redis.Redis, settings: Settings, search_id: str, key: str
) -> tuple[store.SavedSearch, list[dict[str, Any]]]:
    """The saved search whose private feed key is ``key``, with its newest matches, for a
    feed reader without a session. An unknown id, a wrong key, and a disabled owner all answer
    the same 404."""
    prefix = settings.index_prefix
    with redis_errors():
        search = store.by_feed_key(redis_client, prefix, search_id, key)
        owner = (
            accounts.get_user(redis_client, settings, search.owner)
            if search and search.owner
            else None
        )
        if search is None or (owner is not None and owner.disabled):
            raise ApiError(404, "Not found", f"no saved search with id {search_id} and this key")
        matches = store.recent_matches(redis_client, prefix, search_id, settings.alerts_max_matches)
    return search, matches


def _changeable(
    redis_client: redis.Redis, prefix: str, search_id: str, viewer: Viewer
) -> store.SavedSearch:
    search = load(redis_client, prefix, search_id, viewer)
    if not may_change(search, viewer):
        raise ApiError(
            403, "Forbidden", "only its owner and admins change or delete a saved search"
        )
    return search


def delete(redis_client: redis.Redis, prefix: str, search_id: str, viewer: Viewer) -> None:
    _changeable(redis_client, prefix, search_id, viewer)
    with redis_errors():
        if not store.delete(redis_client, prefix, search_id):
            raise ApiError(404, "Not found", f"no saved search with id {search_id}")


def change(
    redis_client: redis.Redis,
    settings: Settings,
    search_id: str,
    viewer: Viewer,
    body: Any,
) -> tuple[store.SavedSearch, str | None]:
    """Rename, share or unshare a saved search, change its webhook or turn its email or spike
    alerts on or off (JSON: {name, shared, webhook_url, email_alerts, spike_alerts}); a new
    webhook gets a new secret,
    returned beside it (to be shown once)."""
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid body", "the body must be a JSON object")
    unknown = sorted(set(body) - _CHANGE_KEYS)
    if unknown:
        raise _invalid(unknown[0], f"only {', '.join(sorted(_CHANGE_KEYS))} may change")
    search = _changeable(redis_client, settings.index_prefix, search_id, viewer)
    changes: dict[str, Any] = {}
    if "name" in body:
        changes["name"] = _checked_name(_string(body, "name") or "") or search.name
    if "shared" in body:
        changes["shared"] = _shared(body)
    if "spike_alerts" in body:
        changes["spike_alerts"] = _shared(body, "spike_alerts")
    if "email_alerts" in body:
        changes["email_alerts"] = _shared(body, "email_alerts")
        if changes["email_alerts"] and not search.email_alerts:
            check_email_alerts(redis_client, settings, search.owner)
    if "webhook_url" in body:
        url = check_webhook_url(
            _string(body, "webhook_url"), allow_private=settings.alerts_webhook_allow_private
        )
        changes["webhook_url"] = url
        if url != search.webhook_url:
            changes["webhook_secret"] = store.new_token() if url else None
    changed = replace(search, **changes)
    with redis_errors():
        if not store.update(redis_client, settings.index_prefix, changed):
            raise ApiError(404, "Not found", f"no saved search with id {search_id}")
    return changed, changes.get("webhook_secret")


def same_origin(headers: Headers, host: str) -> bool:
    """Whether a form POST comes from one of our own pages. Browsers send ``Sec-Fetch-Site``
    and ``Origin`` with every POST; a request without them is not a browser's cross-site one."""
    if headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = headers.get("Origin")
    # The host alone: behind a TLS-terminating proxy the scheme seen here may differ.
    return origin is None or urlsplit(origin).netloc == host


def feed_hits(matches: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Matches in the shape web/feeds.py renders (its snippets are HTML-escaped text)."""
    return [
        {
            "id": match["id"],
            "title": match.get("title"),
            "url": match.get("url"),
            "source": match.get("source"),
            "authors": match.get("authors") or [],
            "published_at": match.get("published_at") or match.get("matched_at"),
            "language": match.get("language"),
            "snippet": html.escape(match.get("summary") or ""),
        }
        for match in matches
    ]
