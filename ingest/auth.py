"""Who may call ingest: API tokens (``Authorization: Bearer <secret>``), the deprecated shared
key, and when a request needs either.

The rule (docs/SECURITY.md): every route but ``/``, ``/healthz`` and ``/openapi.json`` needs
credentials as soon as one of these holds:

- ``NEWSROOM_ENVIRONMENT=production``;
- the shared key ``NEWSROOM_INGEST_API_KEY`` is set;
- an ingest token was ever created for this instance (a revoked one still counts: revoking the
  last token must not open the door).

Otherwise (a fresh local run: no key, no ingest token) ingest stays open, as before tokens
existed, and ``/healthz`` says ``"auth": "open"``. Credentials that are sent are always
checked, open or not: a wrong or revoked token gets 401 at once.

Accepted credentials: an ``ingest`` token (a client's: ``newsroom tokens add --kind ingest``), or
a ``user`` token whose owner is an editor or an admin (a reader's gets 403); checked by
``shared.accounts.authenticate_token``, which records the token's last use. The shared key is
still accepted (as ``Authorization: Bearer`` or ``X-API-Key``) while it is set, with a
``Deprecation`` response header (RFC 9745) and one warning in the log per process.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import Literal

import redis
from flask import Flask, Response, current_app, g, request

from shared import accounts
from shared.clients import get_redis
from shared.http import app_settings, problem
from shared.settings import Settings

log = logging.getLogger(__name__)

# Reachable without credentials: what the service is, whether it is up, its description.
PUBLIC_ENDPOINTS = frozenset({"ingest.index", "ingest.healthz", "ingest.openapi"})
# The role a user token's owner needs (an ingest token is a client's and needs none).
ROLE_NEEDED: accounts.Role = "editor"
# RFC 9745: the shared key is deprecated since 2026-12-01 (a Unix time as a structured date).
DEPRECATION = "@1796083200"
_REQUIRED = "newsroom_ingest_auth_required"  # app.extensions: True once seen required
_WARNED = "newsroom_ingest_key_warned"  # app.extensions: the deprecation was logged

Reason = Literal["production", "api key", "ingest tokens"]


@dataclass(frozen=True)
class Caller:
    """Who made the request: a token (and its owner), the shared key, or nobody (open)."""

    via: Literal["token", "key", "open"]
    token: accounts.Token | None = None
    user: accounts.User | None = None


class AuthRefusedError(Exception):
    """401 (no or wrong credentials) or 403 (a token whose owner may not write)."""

    def __init__(self, status: Literal[401, 403], detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def required_because(redis_client: redis.Redis, settings: Settings) -> Reason | None:
    """Why requests need credentials, or None when ingest is open (see the module's rule)."""
    if settings.environment == "production":
        return "production"
    if settings.ingest_api_key is not None:
        return "api key"
    if accounts.ingest_tokens_made(redis_client, settings):  # revoked ones count too
        return "ingest tokens"
    return None


def given_secret() -> str | None:
    """The secret the request carries: ``Authorization: Bearer <secret>``, else ``X-API-Key``
    (the shared key's old header); None when it carries neither."""
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        scheme, _, secret = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise AuthRefusedError(401, "send credentials as 'Authorization: Bearer <token>'")
        return secret.strip()
    api_key = request.headers.get("X-API-Key")
    return api_key.strip() if api_key is not None else None


def identify(secret: str, redis_client: redis.Redis, settings: Settings) -> Caller:
    """The caller a secret names, or ``AuthRefusedError``."""
    key = settings.ingest_api_key
    if key is not None and hmac.compare_digest(secret.encode(), key.get_secret_value().encode()):
        return Caller("key")
    found = accounts.authenticate_token(redis_client, settings, secret)
    if found is None:
        raise AuthRefusedError(401, "unknown, revoked or disabled token")
    token, user = found
    if token.kind == "ingest":
        return Caller("token", token, user)
    if user is None or not accounts.role_allows(user.role, ROLE_NEEDED):
        role = user.role if user is not None else "no user"
        raise AuthRefusedError(
            403,
            f"a {role}'s token may not use ingest: an ingest token, or an editor's or an "
            "admin's, may",
        )
    return Caller("token", token, user)


def is_required(app: Flask, redis_client: redis.Redis, settings: Settings) -> bool:
    """``required_because``, remembered by the app once true (it stays true: tokens are
    revoked, never forgotten), so only an open ingest asks Redis on each anonymous request."""
    if app.extensions.get(_REQUIRED):
        return True
    required = required_because(redis_client, settings) is not None
    if required:
        app.extensions[_REQUIRED] = True
    return required


def _refusal(status: int, title: str, detail: str) -> Response:
    response = problem(status, title, detail)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="newsroom-ingest"'
    elif status == 503:
        response.headers["Retry-After"] = "5"
    return response


def _authenticate() -> Response | None:
    """before_request: let the request through (``g.ingest_caller`` says as whom) or answer."""
    if request.routing_exception is not None or request.endpoint in PUBLIC_ENDPOINTS:
        return None  # a 404, 405 or forged Host answers as such; public routes need nothing
    settings = app_settings()
    redis_client = get_redis(settings)
    try:
        secret = given_secret()
        if secret is None:
            if is_required(current_app, redis_client, settings):
                raise AuthRefusedError(
                    401, "this ingest needs credentials: 'Authorization: Bearer <token>'"
                )
            g.ingest_caller = Caller("open")
            return None
        g.ingest_caller = identify(secret, redis_client, settings)
    except AuthRefusedError as refused:
        title = "Unauthorized" if refused.status == 401 else "Forbidden"
        return _refusal(refused.status, title, refused.detail)
    except redis.RedisError as error:
        return _refusal(503, "Unavailable", f"cannot check credentials: Redis: {error}")
    if g.ingest_caller.via == "key" and not current_app.extensions.get(_WARNED):
        current_app.extensions[_WARNED] = True
        log.warning(
            "a client used the deprecated shared key NEWSROOM_INGEST_API_KEY; give each client "
            "an ingest token (newsroom tokens add --kind ingest) and unset the key"
        )
    return None


def _mark_deprecated(response: Response) -> Response:
    caller: Caller | None = g.get("ingest_caller")
    if caller is not None and caller.via == "key":
        response.headers["Deprecation"] = DEPRECATION
    return response


def install_auth(app: Flask) -> None:
    """Check every request of ``app`` (``/metrics`` too, which the app itself serves)."""
    app.before_request(_authenticate)
    app.after_request(_mark_deprecated)


def auth_state(settings: Settings) -> str:
    """``/healthz``'s word on it: "required" or "open" ("unknown" when Redis does not say)."""
    try:
        required = is_required(current_app, get_redis(settings), settings)
    except redis.RedisError:
        return "unknown"
    return "required" if required else "open"
