"""Who is asking and what they may do: the web's sessions, API tokens, roles, CSRF and hosts.

- Sessions: Flask-Login over Flask's signed cookie (``settings.secret_key``), HttpOnly,
  SameSite=Lax, Secure when the request came over TLS, ending after ``SESSION_LIFETIME``. The
  user is read again from the account store on every request: a disabled (or removed) user is
  logged out at once.
- API tokens: ``Authorization: Bearer <token>`` (shared/accounts.py); the token's owner's role
  applies; an unknown, revoked or disabled one is a 401 at once, whatever the route.
- Roles: readers search, read, follow feeds and export (anonymously too when
  ``settings.anonymous_reading``); editors also create, change and delete saved searches,
  alerts and webhooks (``require("editor")``); admins also see the pipeline and its dead
  letters (``require("admin")``).
- CSRF: Flask-WTF's CSRFProtect checks every state-changing request of a cookie session (a form's
  hidden ``csrf_token``, or the ``X-CSRFToken`` header for JSON); requests carrying a valid
  bearer token send no cookie a browser would add on its own, so they are exempt.
- Hosts: Flask's ``TRUSTED_HOSTS`` (``settings.trusted_hosts``; empty = any): a forged Host is
  a 400 before any view runs, so it never reaches the URLs the JSON API and webhooks send out.
- Failed logins are counted in Redis per name and per client address (``LoginLimiter``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import redis
from flask import Flask, Response, g, make_response, redirect, render_template, request, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, UserMixin, current_user
from flask_wtf.csrf import CSRFError, CSRFProtect

from shared import accounts
from shared.clients import get_redis
from shared.http import ApiError, app_settings, problem
from shared.settings import Settings

# A stolen session cookie stops working after this, whatever the browser does with it.
SESSION_LIFETIME = timedelta(hours=12)
# Reachable by anyone even when anonymous reading is off: logging in, and what machines poll
# (a saved search's private feed URLs carry their own key: web/saved.py).
PUBLIC_ENDPOINTS = frozenset(
    {"account.login", "account.login_form", "static", "site.healthz", "site.api_openapi",
     "saved.keyed_atom_feed", "saved.keyed_json_feed"}
)  # fmt: skip
BEARER_CHALLENGE = 'Bearer realm="newsroom"'

View = TypeVar("View", bound=Callable[..., Any])


class Account(UserMixin):  # type: ignore[misc]  # Flask-Login ships no type hints
    """The logged-in user as Flask-Login sees it. Its id, kept in the session cookie, is the
    user name and the user's session generation: ``name:generation``."""

    def __init__(self, user: accounts.User) -> None:
        self.user = user

    def get_id(self) -> str:
        return f"{self.user.name}:{self.user.sessions}"

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def role(self) -> accounts.Role:
        return self.user.role

    @property
    def is_active(self) -> bool:
        return not self.user.disabled

    def may(self, need: accounts.Role) -> bool:
        return accounts.role_allows(self.user.role, need)


class _SessionInterface(SecureCookieSessionInterface):
    """The session cookie is marked Secure when the request came over TLS (gunicorn sets the
    scheme from X-Forwarded-Proto of its trusted proxies), or always with
    ``settings.session_cookie_secure`` (Flask's SESSION_COOKIE_SECURE)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def install(app: Flask, settings: Settings) -> None:
    """Sessions, tokens, roles, CSRF and trusted hosts for the web app."""
    app.secret_key = settings.secret_key.get_secret_value()
    app.session_interface = _SessionInterface()
    app.config.update(
        SESSION_COOKIE_SECURE=settings.session_cookie_secure
        or bool(app.config.get("SESSION_COOKIE_SECURE")),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        TRUSTED_HOSTS=list(settings.trusted_hosts) or None,
        # Checked by ``_identify`` below (not for bearer-token requests).
        WTF_CSRF_CHECK_DEFAULT=False,
        # A token lives as long as its session (which SESSION_LIFETIME bounds).
        WTF_CSRF_TIME_LIMIT=None,
    )
    csrf = CSRFProtect(app)
    login_manager = LoginManager(app)
    login_manager.session_protection = None  # the signed cookie, bound to nothing else

    def _load(session_id: str) -> Account | None:
        """The session's user, read again on each request: disabled, gone, or of an older
        session generation (a password reset, ``newsroom users logout``) = logged out."""
        # A cookie from before generations were kept names the user alone: generation 0.
        name, _, generation = session_id.partition(":")
        settings = app_settings()
        try:
            user = accounts.get_user(get_redis(settings), settings, name)
        except redis.RedisError as error:
            raise ApiError(503, "Accounts unavailable", f"Redis is unreachable: {error}") from error
        if user is None or user.disabled or str(user.sessions) != (generation or "0"):
            return None
        return Account(user)

    login_manager.user_loader(_load)

    @app.before_request
    def _identify() -> Response | None:
        return _identify_request(csrf)

    @app.errorhandler(CSRFError)
    def _csrf_refused(error: CSRFError) -> Response:
        detail = (
            f"{error.description} Forms are accepted only from this site's own pages; JSON "
            "requests of a logged-in session send the page's csrf-token in X-CSRFToken."
        )
        return refusal(403, "Forbidden", detail)

    @app.context_processor
    def _account() -> dict[str, Any]:
        return {"account": current_account(), "account_via_token": g.get("via_token", False)}


def _identify_request(csrf: CSRFProtect) -> Response | None:
    """Who is asking (``g.account``); refuses bad tokens, failed CSRF checks and, when anonymous
    reading is off, anonymous requests."""
    settings = app_settings()
    g.account = None
    g.via_token = False
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        try:
            found = accounts.authenticate_token(get_redis(settings), settings, secret)
        except redis.RedisError as error:
            raise ApiError(503, "Accounts unavailable", f"Redis is unreachable: {error}") from error
        if found is None or found[0].kind != "user" or found[1] is None:
            response = problem(
                401,
                "Unauthorized",
                "the API token is unknown, revoked or its owner disabled (a user token: "
                "`newsroom tokens add`)",
            )
            response.headers["WWW-Authenticate"] = BEARER_CHALLENGE
            return response
        g.account, g.via_token = Account(found[1]), True
        return None
    try:
        if current_user.is_authenticated:
            g.account = current_user._get_current_object()
    except ApiError as error:  # the account store is out of reach
        return refusal(error.status, error.title, error.detail)
    if g.account is not None or request.endpoint in PUBLIC_ENDPOINTS:
        # State-changing methods only; raises CSRFError. Without a session there is nothing
        # to forge (every write then answers 401), except a login (a forged login would sign
        # the victim into the attacker's account).
        csrf.protect()
    if (
        g.account is None
        and not settings.anonymous_reading
        and request.endpoint not in PUBLIC_ENDPOINTS
    ):
        return refusal(401, "Unauthorized", "log in first (or send an API token)")
    return None


def current_account() -> Account | None:
    """The user of this request (by session or token), None when anonymous."""
    return cast(Account | None, g.get("account"))


def wants_json() -> bool:
    """The API and the feeds answer problems; the pages answer pages."""
    return request.path.startswith("/api/") or request.path.endswith((".atom", ".json"))


def local_url(target: str | None) -> str | None:
    """``target`` when it is a path on this site (no scheme, no host, not ``//host``)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(ch) < 32 for ch in target):
        return None
    return target


def refusal(status: int, title: str, detail: str) -> Response:
    """401 (who are you?), 403 (not you) or another error: a JSON problem for the API, else
    a page; an anonymous visitor of a page is sent to the login page and back."""
    if wants_json():
        response = problem(status, title, detail)
        if status == 401:
            response.headers["WWW-Authenticate"] = BEARER_CHALLENGE
        return response
    if status == 401:
        back = request.full_path if request.query_string else request.path
        return make_response(redirect(url_for("account.login_form", next=back), 303))
    error = ApiError(status, title, detail)
    return make_response(render_template("error.html", error=error), status)


def require(role: accounts.Role) -> Callable[[View], View]:
    """The route needs a user of ``role`` or above: 401 (or the login page) when anonymous,
    403 when the role is too low."""

    def decorate(view: View) -> View:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            account = current_account()
            if account is None:
                return refusal(401, "Unauthorized", f"this needs a logged-in {role}")
            if not account.may(role):
                detail = f"this needs the {role} role; {account.name} is a {account.role}"
                return refusal(403, "Forbidden", detail)
            return view(*args, **kwargs)

        return cast(View, guarded)

    return decorate


@dataclass(frozen=True)
class LoginLimiter:
    """Failed logins counted in Redis per user name and per client address: after
    ``max_failures`` within ``lockout_s`` of each other, logins for that name (or from that
    address) are refused until ``lockout_s`` have passed since the last failure. Attempts
    refused meanwhile are not counted (the lockout does not grow)."""

    redis_client: redis.Redis
    prefix: str
    max_failures: int
    lockout_s: int

    @classmethod
    def of(cls, settings: Settings) -> LoginLimiter:
        return cls(
            get_redis(settings),
            settings.index_prefix,
            settings.login_max_failures,
            settings.login_lockout_s,
        )

    def _keys(self, name: str, address: str) -> list[str]:
        # Hashed: names are whatever was typed, of any length.
        typed = hashlib.sha256(name.strip().lower().encode()).hexdigest()[:32]
        base = f"{self.prefix}:login:failures"
        return [f"{base}:name:{typed}", f"{base}:address:{address}"]

    def locked_for_s(self, name: str, address: str) -> int:
        """Seconds until a login for ``name`` from ``address`` is taken again (0: now)."""
        keys = self._keys(name, address)
        pipe = self.redis_client.pipeline(transaction=False)
        for key in keys:
            pipe.get(key)
            pipe.ttl(key)
        counts_ttls = pipe.execute()
        waits = [
            max(int(ttl), 1)
            for count, ttl in zip(counts_ttls[::2], counts_ttls[1::2], strict=True)
            if count is not None and int(count) >= self.max_failures
        ]
        return max(waits, default=0)

    def failed(self, name: str, address: str) -> None:
        pipe = self.redis_client.pipeline(transaction=True)
        for key in self._keys(name, address):
            pipe.incr(key)
            pipe.expire(key, self.lockout_s)
        pipe.execute()

    def succeeded(self, name: str) -> None:
        """A right password clears its name's count (not the address's)."""
        self.redis_client.delete(self._keys(name, "")[0])
