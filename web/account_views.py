"""Logging in and out: ``GET|POST /login``, ``POST /logout`` (web/auth.py holds the rules).

A wrong password and an unknown name get the same answer; after
``settings.login_max_failures`` failures for a name (or from one address) within
``settings.login_lockout_s``, logins are refused (429) until the lockout has passed. At most
``settings.login_checks_per_process`` password checks run at once in a process (each takes
argon2id's 64 MiB); a login that finds no turn within a few seconds gets 503.
"""

from __future__ import annotations

import threading
from typing import cast

import redis
from flask import (
    Blueprint,
    Response,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    session,
)
from flask_login import login_user, logout_user

from shared import accounts
from shared.clients import get_redis
from shared.http import ApiError, app_settings
from web.audit_views import audit
from web.auth import Account, LoginLimiter, current_account, local_url

bp = Blueprint("account", __name__)

WRONG = "Wrong name or password."
# How long a login waits for a turn at the password check before a 503 (settings'
# login_checks_per_process bounds how many run at once in this process).
LOGIN_TURN_WAIT_S = 5.0


def _check_turn() -> threading.BoundedSemaphore:
    """This process's gate in front of argon2 (one per app, made on first use)."""
    turns = current_app.extensions.setdefault(
        "newsroom_login_turns",
        threading.BoundedSemaphore(app_settings().login_checks_per_process),
    )
    return cast(threading.BoundedSemaphore, turns)


def _form(status: int = 200, *, error: str | None = None, name: str = "") -> Response:
    nxt = local_url(request.values.get("next")) or ""
    page = render_template("login.html", error=error, name=name, next=nxt)
    response = make_response(page, status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _name_or_placeholder(name: str) -> str:
    """What a failed login records as its target: the name of an existing user, else a
    placeholder, so that a password typed into the name box never reaches the audit log."""
    settings = app_settings()
    user = accounts.get_user(get_redis(settings), settings, name)
    return user.name if user is not None else "(unknown name)"


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
        turns = _check_turn()
        if not turns.acquire(
            timeout=current_app.config.get("LOGIN_TURN_WAIT_S", LOGIN_TURN_WAIT_S)
        ):
            response = _form(
                503, error="Too many logins at once: try again in a moment.", name=name
            )
            response.headers["Retry-After"] = "2"
            return response
        try:
            user = accounts.check_password(get_redis(settings), settings, name, password)
        finally:
            turns.release()
        if user is None:
            limiter.failed(name, address)
            # Attempts refused by a lockout (above) are not recorded: they cannot flood it.
            audit("login.failed", _name_or_placeholder(name), actor="anonymous")
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
