"""Logging in and out: ``GET|POST /login``, ``POST /logout`` (web/auth.py holds the rules).

A wrong password and an unknown name get the same answer; after
``settings.login_max_failures`` failures for a name (or from one address) within
``settings.login_lockout_s``, logins are refused (429) until the lockout has passed.
"""

from __future__ import annotations

import redis
from flask import Blueprint, Response, make_response, redirect, render_template, request, session
from flask_login import login_user, logout_user

from shared import accounts
from shared.clients import get_redis
from shared.http import ApiError, app_settings
from web.audit_views import audit
from web.auth import Account, LoginLimiter, current_account, local_url

bp = Blueprint("account", __name__)

WRONG = "Wrong name or password."


def _form(status: int = 200, *, error: str | None = None, name: str = "") -> Response:
    nxt = local_url(request.values.get("next")) or ""
    page = render_template("login.html", error=error, name=name, next=nxt)
    response = make_response(page, status)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/login")
def login_form() -> Response:
    return _form()


@bp.post("/login")
def login() -> Response:
    settings = app_settings()
    name = request.form.get("name", "")[:200]
    password = request.form.get("password", "")
    address = request.remote_addr or "unknown"
    limiter = LoginLimiter.of(settings)
    try:
        wait_s = limiter.locked_for_s(name, address)
        if wait_s:
            minutes = -(-wait_s // 60)
            response = _form(
                429,
                error=f"Too many failed logins: try again in {minutes} minute"
                f"{'' if minutes == 1 else 's'}.",
                name=name,
            )
            response.headers["Retry-After"] = str(wait_s)
            return response
        user = accounts.check_password(get_redis(settings), settings, name, password)
        if user is None:
            limiter.failed(name, address)
            # Attempts refused by a lockout (above) are not recorded: they cannot flood it.
            audit("login.failed", name, actor="anonymous")
            return _form(401, error=WRONG, name=name)
        limiter.succeeded(name)
    except redis.RedisError as error:
        raise ApiError(503, "Accounts unavailable", f"Redis: {error}") from error
    audit("login", user.name, actor=user.name)
    session.clear()  # nothing of the anonymous session (its CSRF token) carries over
    login_user(Account(user))
    session.permanent = True  # bounded by PERMANENT_SESSION_LIFETIME (web/auth.py)
    return make_response(redirect(local_url(request.form.get("next")) or "/", 303))


@bp.post("/logout")
def logout() -> Response:
    account = current_account()
    if account is not None:
        audit("logout", account.name)
    logout_user()
    session.clear()
    return make_response(redirect("/", 303))
