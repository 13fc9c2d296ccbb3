"""Who may do what on the web (issue 16): logging in and out, the lockout after failed logins,
roles on routes, CSRF on forms and JSON, trusted hosts, and API tokens revoked at once. On the
real Redis (accounts, saved searches, login counters); no worker needed."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

import web
from shared import accounts
from shared import saved_searches as store
from shared.clients import get_redis
from shared.settings import Settings
from tests.conftest import Login, sign_in, signed_in_client

pytestmark = pytest.mark.usefixtures("services")

PASSWORD = "correct horse battery staple"


def _app(settings: Settings, **changes: Any) -> Flask:
    return web.create_app(
        {"TESTING": True, "NEWSROOM_SETTINGS": settings.model_copy(update=changes)}
    )


def _user(settings: Settings, role: accounts.Role = "editor") -> str:
    name = f"auth-{role}-{uuid.uuid4().hex[:8]}"
    accounts.add_user(get_redis(settings), settings, name, role, PASSWORD)
    return name


def _client(app: Flask) -> FlaskClient:
    """A client from an address of its own: failed logins count per address too, and the
    other tests log in from 127.0.0.1."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"
    return client


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def _login(client: FlaskClient, name: str, password: str, **extra: str) -> Any:
    token = _csrf(client.get("/login").get_data(as_text=True))
    form = {"name": name, "password": password, "csrf_token": token, **extra}
    return client.post("/login", data=form)


def _session_cookie(response: Any) -> str:
    (cookie,) = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    return str(cookie)


def _saved_ids(settings: Settings) -> set[str]:
    return {s.id for s in store.list_all(get_redis(settings), settings.index_prefix)}


def test_login_and_logout(web_app: Flask, settings: Settings) -> None:
    name = _user(settings, "admin")
    client = web_app.test_client()
    page = client.get("/login")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert client.get("/pipeline").status_code == 303  # anonymous: off to the login page

    response = _login(client, name, PASSWORD, next="/pipeline")
    assert response.status_code == 303
    assert response.headers["Location"] == "/pipeline"
    cookie = _session_cookie(response)
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP here; over TLS it is (below)
    page = client.get("/pipeline")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f"{name} (admin)" in html
    assert '<meta name="csrf-token"' in html

    logout = client.post("/logout", data={"csrf_token": _csrf(html)})
    assert logout.status_code == 303
    assert client.get("/pipeline").status_code == 303
    assert "Log in" in client.get("/").get_data(as_text=True)


def test_the_session_cookie_is_secure_over_tls(web_app: Flask, settings: Settings) -> None:
    name = _user(settings)
    client = web_app.test_client()
    token = _csrf(client.get("/login", base_url="https://localhost").get_data(as_text=True))
    response = client.post(
        "/login",
        data={"name": name, "password": PASSWORD, "csrf_token": token},
        base_url="https://localhost",
        headers={"Referer": "https://localhost/login"},  # Flask-WTF's strict check over TLS
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    assert "Secure" in _session_cookie(response)

    # A site served only over TLS marks it Secure whatever the request says.
    forced = _app(settings, session_cookie_secure=True)
    response = _login(forced.test_client(), _user(settings), PASSWORD)
    assert response.status_code == 303
    assert "Secure" in _session_cookie(response)


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"]
)
def test_login_goes_back_only_to_this_site(web_app: Flask, settings: Settings, target: str) -> None:
    response = _login(web_app.test_client(), _user(settings), PASSWORD, next=target)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_a_wrong_password_and_an_unknown_name_answer_alike(
    web_app: Flask, settings: Settings
) -> None:
    name = _user(settings)
    wrong = _login(_client(web_app), name, "not the password at all")
    unknown = _login(_client(web_app), f"nobody-{uuid.uuid4().hex[:8]}", PASSWORD)
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "Wrong name or password." in response.get_data(as_text=True)
        assert not [c for c in response.headers.getlist("Set-Cookie") if "_user_id" in c]
    # The pages differ only by the name typed back into the form (and the CSRF token).
    wrong_page, unknown_page = (
        re.sub(r'value="[^"]*"', 'value=""', r.get_data(as_text=True)) for r in (wrong, unknown)
    )
    assert wrong_page == unknown_page


def test_logins_lock_after_repeated_failures(settings: Settings) -> None:
    app = _app(settings, login_max_failures=3, login_lockout_s=2)
    name = _user(settings)
    client = _client(app)
    for _ in range(3):
        assert _login(client, name, "wrong password, again").status_code == 401
    # Locked: even the right password is refused, with when to come back.
    locked = _login(client, name, PASSWORD)
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.get_data(as_text=True)
    assert 1 <= int(locked.headers["Retry-After"]) <= 2
    # From another address too: the name is locked.
    elsewhere = _client(app)
    assert _login(elsewhere, name, PASSWORD).status_code == 429
    time.sleep(2.2)
    assert _login(client, name, PASSWORD).status_code == 303


def test_logins_from_one_address_lock_across_names(settings: Settings) -> None:
    app = _app(settings, login_max_failures=3, login_lockout_s=60)
    client = _client(app)
    for _ in range(3):
        assert _login(client, _user(settings), "guessing, guessing").status_code == 401
    # A fresh name, its right password: refused from that address.
    assert _login(client, _user(settings), PASSWORD).status_code == 429
    other = _client(app)
    assert _login(other, _user(settings), PASSWORD).status_code == 303


def test_a_reader_may_read_but_not_save_nor_open_admin_pages(web_app: Flask) -> None:
    reader = signed_in_client(web_app, "reader")
    assert reader.get("/?q=harbour").status_code == 200
    assert reader.get("/api/search?q=harbour").status_code == 200
    assert reader.get("/api/saved-searches").status_code == 200
    refused = reader.post("/api/saved-searches", json={"q": "harbour"})
    assert refused.status_code == 403
    assert refused.mimetype == "application/problem+json"
    assert "editor" in refused.get_json()["detail"]
    form = reader.post("/saved", data={"q": "harbour", "name": "nope"})
    assert form.status_code == 403
    assert 'action="/saved"' not in reader.get("/?q=harbour").get_data(as_text=True)
    for path in ("/pipeline", "/pipeline/dead-letters/" + "0" * 32):
        page = reader.get(path)
        assert page.status_code == 403
        assert "admin" in page.get_data(as_text=True)
    assert reader.get("/api/pipeline").status_code == 403
    # An editor is no admin either.
    assert signed_in_client(web_app, "editor").get("/pipeline").status_code == 403


def test_anonymous_writes_are_401_and_pages_go_to_the_login(web_app: Flask) -> None:
    anonymous = web_app.test_client()
    response = anonymous.post("/api/saved-searches", json={"q": "harbour"})
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    page = anonymous.get("/pipeline?x=1")
    assert page.status_code == 303
    location = urlsplit(page.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == ["/pipeline?x=1"]


def test_an_editor_saves_a_search_with_an_alert(web_app: Flask) -> None:
    """Through the search page's own form (its hidden CSRF field), as a browser would."""
    login = signed_in_client(web_app, "editor")
    word = f"edtr{uuid.uuid4().hex[:8]}"
    page = login.get("/", query_string={"q": word, "mode": "keyword"}).get_data(as_text=True)
    form = page.split('action="/saved"', 1)[1].split("</form>", 1)[0]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))
    assert fields["q"] == word
    assert fields["csrf_token"]
    fields |= {"name": "Editor's alert", "webhook_url": "https://hooks.example.org/editor"}
    login.environ_base.pop("HTTP_X_CSRFTOKEN")  # the form's field alone
    created = login.post("/saved", data=fields, headers={"Origin": "http://localhost"})
    assert created.status_code == 201, created.get_data(as_text=True)
    assert "Webhook secret" in created.get_data(as_text=True)
    (mine,) = [
        item
        for item in login.get("/api/saved-searches").get_json()["saved_searches"]
        if item["params"]["q"] == word
    ]
    assert mine["webhook"] == {"host": "hooks.example.org"}
    assert mine["shared"] is False
    delete = login.post(f"/saved/{mine['id']}/delete", data={"csrf_token": fields["csrf_token"]})
    assert delete.status_code == 303


def test_cross_site_posts_are_refused(
    web_app: Flask, settings: Settings, editor_login: Login
) -> None:
    """A page elsewhere can make the browser send the session cookie (were it not SameSite),
    never the CSRF token: the form post and the JSON post are refused, nothing is saved."""
    before = _saved_ids(settings)
    victim = web_app.test_client()
    victim.set_cookie("session", editor_login.cookie)  # the cookie, not the token
    form = {"q": "harbour", "name": "Planted", "webhook_url": "https://evil.example/hook"}
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {}):
        response = victim.post("/saved", data=form, headers=headers)
        assert response.status_code == 403
        assert "CSRF" in response.get_data(as_text=True)
    as_json = victim.post(
        "/api/saved-searches",
        json={"q": "harbour", "webhook_url": "https://evil.example/hook"},
        headers={"Origin": "https://evil.example"},
    )
    assert as_json.status_code == 403  # was 201 before accounts
    assert as_json.mimetype == "application/problem+json"
    # A forged token is no better.
    forged = victim.post(
        "/api/saved-searches", json={"q": "harbour"}, headers={"X-CSRFToken": "forged"}
    )
    assert forged.status_code == 403
    # Even with the token (a page of ours leaked it), a form from another origin is refused.
    editor = editor_login.apply(web_app.test_client())
    foreign = editor.post("/saved", data=form, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    assert _saved_ids(settings) == before


def test_a_forged_host_is_refused(settings: Settings) -> None:
    app = _app(settings, trusted_hosts=["newsroom.example"])
    _, secret = accounts.create_token(
        get_redis(settings), settings, _user(settings), "user", "hosts"
    )
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    before = _saved_ids(settings)
    forged = client.post(
        "/api/saved-searches",
        json={"q": "harbour", "mode": "keyword"},
        headers={"Host": "evil.example"},
    )
    assert forged.status_code == 400
    assert _saved_ids(settings) == before
    assert client.get("/api/search?q=x", headers={"Host": "evil.example"}).status_code == 400
    good = client.post(
        "/api/saved-searches",
        json={"q": "harbour", "mode": "keyword"},
        base_url="http://newsroom.example",
    )
    assert good.status_code == 201, good.get_json()
    assert good.get_json()["urls"]["atom"].startswith("http://newsroom.example/saved/")
    store.delete(get_redis(settings), settings.index_prefix, good.get_json()["id"])


def test_a_revoked_token_stops_working_at_once(web_app: Flask, settings: Settings) -> None:
    redis_client = get_redis(settings)
    name = _user(settings)
    token, secret = accounts.create_token(redis_client, settings, name, "user", "script")
    client = web_app.test_client()  # no cookie: the token alone, so no CSRF token either
    bearer = {"Authorization": f"Bearer {secret}"}
    created = client.post("/api/saved-searches", json={"q": "harbour"}, headers=bearer)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["owner"] == name
    url = f"/api/saved-searches/{created.get_json()['id']}"
    assert client.get(url, headers=bearer).status_code == 200
    assert not client.get_cookie("session")  # a token makes no session
    accounts.revoke_token(redis_client, settings, token.id)
    for response in (
        client.get(url, headers=bearer),
        client.get("/api/search?q=harbour", headers=bearer),  # any route, reading too
        client.delete(url, headers=bearer),
    ):
        assert response.status_code == 401
        assert response.mimetype == "application/problem+json"
    # An ingest client's token is no web credential. Made in a store of its own: an ingest
    # token in the run's store would make the run's ingest require credentials (ingest/auth.py)
    # for every later test.
    own = settings.model_copy(update={"index_prefix": f"{settings.index_prefix}-webauth"})
    _, ingest_secret = accounts.create_token(redis_client, own, "feeder", "ingest", "feeds")
    headers = {"Authorization": f"Bearer {ingest_secret}"}
    assert _app(own).test_client().get("/api/saved-searches", headers=headers).status_code == 401
    redis_client.delete(*redis_client.scan_iter(f"{own.index_prefix}:*", count=1000))
    store.delete(redis_client, settings.index_prefix, created.get_json()["id"])


def test_a_disabled_user_is_logged_out_at_once(web_app: Flask, settings: Settings) -> None:
    login = sign_in(web_app, "admin")
    admin = login.apply(web_app.test_client())
    assert admin.get("/pipeline").status_code == 200
    accounts.disable_user(get_redis(settings), settings, login.name)
    assert admin.get("/pipeline").status_code == 303
    assert admin.post("/api/saved-searches", json={"q": "harbour"}).status_code == 401


def test_password_checks_wait_for_a_turn_then_503(settings: Settings) -> None:
    app = web.create_app(
        {
            "TESTING": True,
            "LOGIN_TURN_WAIT_S": 0.2,
            "NEWSROOM_SETTINGS": settings.model_copy(update={"login_checks_per_process": 2}),
        }
    )
    user, password = accounts.add_user(
        get_redis(settings), settings, f"turns-{uuid.uuid4().hex[:8]}", "reader"
    )
    name = user.name
    assert _login(_client(app), name, password).status_code == 303  # makes the gate: 2 turns
    turns = app.extensions["newsroom_login_turns"]
    held = [turns.acquire(blocking=False), turns.acquire(blocking=False)]
    assert held == [True, True]
    try:
        busy = _login(_client(app), name, password)
        assert busy.status_code == 503
        assert busy.headers["Retry-After"] == "2"
        assert "Too many logins at once" in busy.get_data(as_text=True)
    finally:
        turns.release()
        turns.release()
    assert _login(_client(app), name, password).status_code == 303


def test_a_password_reset_or_logout_everywhere_ends_sessions(
    web_app: Flask, settings: Settings
) -> None:
    r = get_redis(settings)

    def saves(client: FlaskClient) -> int:
        # An editor's empty saved search is a 400; a request of no session a 401.
        return client.post("/api/saved-searches", json={}).status_code

    login = sign_in(web_app, "editor")
    old = login.apply(web_app.test_client())
    assert saves(old) == 400
    accounts.reset_password(r, settings, login.name)
    # The cookie signed before the reset is no longer honoured, even after the user is enabled
    # or disabled and enabled again.
    assert saves(old) == 401
    accounts.disable_user(r, settings, login.name)
    accounts.enable_user(r, settings, login.name)
    assert saves(old) == 401
    again = sign_in(web_app, "editor")
    fresh = again.apply(web_app.test_client())
    assert saves(fresh) == 400
    accounts.end_sessions(r, settings, again.name)
    assert saves(fresh) == 401


def test_without_anonymous_reading_everything_needs_a_login(settings: Settings) -> None:
    app = _app(settings, anonymous_reading=False)
    anonymous = app.test_client()
    page = anonymous.get("/?q=harbour")
    assert page.status_code == 303
    location = urlsplit(page.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == ["/?q=harbour"]
    for path in ("/api/search?q=harbour", "/feed.atom?q=harbour", "/api/saved-searches"):
        response = anonymous.get(path)
        assert response.status_code == 401, path
        assert response.mimetype == "application/problem+json"
    for path in ("/login", "/healthz", "/api/openapi.json", "/static/style.css"):
        assert anonymous.get(path).status_code == 200, path
    reader = signed_in_client(app, "reader")
    assert reader.get("/?q=harbour").status_code == 200
    assert reader.get("/api/search?q=harbour").status_code == 200
