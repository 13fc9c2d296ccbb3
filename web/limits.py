"""Rate limits on what costs the most or writes: search, export, suggest, saved-search creation.

Flask-Limiter (over the ``limits`` library) counts each request twice, in Redis under
``<prefix>:ratelimit:`` (shared by every web process, so the limit holds whatever process
answers): once per client address, always, and once per user when someone is logged in or
sends an API token (the token's owner), so a user's count follows them from address to address
and an address's count holds whichever accounts or tokens it uses. The address is the one the
web sees (``request.remote_addr``), as for the login lockout: X-Forwarded-For is not trusted,
so behind a reverse proxy every client counts as the proxy's address.

Each kind of request has one limit (settings ``rate_limit_*``), a fixed window counted across
the routes of that kind (the search page, /api/search and the feeds share "search"). Over it:
429 with Retry-After (seconds until the window ends), a problem JSON for the API and the feeds,
the error page for pages. Logins have their own lockout (``web.auth.LoginLimiter``).

When Redis cannot be reached, the limits are counted in this process's memory instead (a
warning in the log), and Redis is tried again after 1, 2, 4 ... 32 seconds: a Redis outage
neither fails these requests (search, export and suggest read Elasticsearch only) nor lifts
the limits; creating a saved search needs Redis anyway and answers 503 by itself.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, Literal, cast

from flask import Flask, Response, request
from flask_limiter import Limiter, RateLimitExceeded, RequestLimit

from shared.http import problem
from shared.settings import Settings
from web.auth import current_account, refusal

Kind = Literal["search", "export", "suggest", "saved"]

# Endpoint -> the kind whose limit it counts against.
LIMITED: dict[str, Kind] = {
    "search.page": "search",
    "search.api": "search",
    "feeds.atom_feed": "search",
    "feeds.json_feed": "search",
    "feeds.api_export": "export",
    "search.api_suggest": "suggest",
    "saved.create_page": "saved",
    "saved.api_create": "saved",
}
_WHAT: dict[str, str] = {
    "search": "Searches",
    "export": "Exports",
    "suggest": "Suggestion requests",
    "saved": "New saved searches",
}


def rates(settings: Settings) -> dict[Kind, str]:
    return {
        "search": settings.rate_limit_search,
        "export": settings.rate_limit_export,
        "suggest": settings.rate_limit_suggest,
        "saved": settings.rate_limit_saved,
    }


def _address_key() -> str:
    return f"address:{request.remote_addr or 'unknown'}"


def _user_key() -> str:
    account = current_account()  # set by web.auth before any view runs
    return f"user:{account.name}" if account is not None else ""


def _anonymous() -> bool:
    return current_account() is None


def _too_many(breached: RequestLimit) -> Response:
    """The answer to a request over a limit: Retry-After says when its window ends."""
    wait_s = max(1, math.ceil(breached.window.reset_time - time.time()))
    key, kind = breached.request_args[-2], breached.request_args[-1]
    who = key.partition(":")[2]
    whose = f"for {who}" if key.startswith("user:") else f"from the address {who}"
    detail = (
        f"{_WHAT.get(kind, kind)} are limited to {breached.limit} {whose}: try again in "
        f"{wait_s} second{'' if wait_s == 1 else 's'}"
    )
    response = refusal(429, "Too Many Requests", detail)
    response.headers["Retry-After"] = str(wait_s)
    return response


def _refused(error: RateLimitExceeded) -> Response:
    if error.response is not None:  # made by _too_many
        return cast(Response, error.response)
    return problem(429, "Too Many Requests", error.description or "rate limit exceeded")


def install(app: Flask, settings: Settings) -> Limiter | None:
    """Limits the routes of ``LIMITED`` (call after the views are registered and after
    ``web.auth.install``, whose hook says who is asking). None when the limits are off."""
    if not settings.rate_limits_enabled:
        return None
    # The key prefix for the ``limits`` storage, the rest for redis-py's client.
    storage_options: dict[str, Any] = {
        "key_prefix": f"{settings.index_prefix}:ratelimit",
        "socket_timeout": settings.redis_timeout_s,
        "socket_connect_timeout": settings.redis_timeout_s,
    }
    limiter = Limiter(
        key_func=_address_key,
        storage_uri=settings.redis_url,
        storage_options=storage_options,
        # One counter per key and window (one Redis round trip per limit); a client may spend
        # up to twice its limit around a window's end, which these limits can bear.
        strategy="fixed-window",
        # Redis unreachable: count in this process's memory (see the module's docstring).
        in_memory_fallback_enabled=True,
        on_breach=_too_many,
        headers_enabled=False,  # X-RateLimit-* would cost a Redis read on every answer
    )
    limiter.init_app(app)
    limit_of = rates(settings)
    for endpoint, kind in LIMITED.items():
        per_address = limiter.shared_limit(limit_of[kind], scope=kind, key_func=_address_key)
        per_user = limiter.shared_limit(
            limit_of[kind], scope=kind, key_func=_user_key, exempt_when=_anonymous
        )
        view: Callable[..., Any] = app.view_functions[endpoint]
        app.view_functions[endpoint] = per_user(per_address(view))
    app.register_error_handler(RateLimitExceeded, _refused)
    return limiter
