"""Rate limits (web/limits.py) against the real Redis: per client address and per user, on
search, export, suggest and saved-search creation; 429 with Retry-After and a problem body (the
error page for pages); nothing counted when they are off; counted in memory when Redis is down.

Each test's app has tiny limits and the run's prefix with a suffix of its own (its counters,
users and tokens are deleted afterwards). The address is the WSGI REMOTE_ADDR: X-Forwarded-For
is not trusted, and a test shows it, unless NEWSROOM_TRUSTED_PROXY_HOPS names proxies in front
(then that many hops back in the header).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from pydantic import ValidationError
from werkzeug.test import TestResponse

import ingest
import web
from shared import accounts
from shared.clients import get_redis
from shared.settings import Settings
from tests.conftest import drop_data, sign_in
from web.limits import LIMITED
from web.openapi import openapi_document

pytestmark = pytest.mark.usefixtures("services")

TINY = {
    "rate_limits_enabled": True,
    "rate_limit_search": "3/minute",
    "rate_limit_export": "2/minute",
    "rate_limit_suggest": "4/minute",
    "rate_limit_saved": "2/hour",
}


@pytest.fixture
def limited(settings: Settings) -> Iterator[Settings]:
    """The run's settings with tiny limits and a prefix of this test's own."""
    own = settings.model_copy(
        update={**TINY, "index_prefix": f"{settings.index_prefix}-rl{uuid.uuid4().hex[:6]}"}
    )
    yield own
    drop_data(own)


def _app(settings: Settings, **update: Any) -> Flask:
    return web.create_app(
        {"TESTING": True, "NEWSROOM_SETTINGS": settings.model_copy(update=update)}
    )


def _from(client: FlaskClient, address: str) -> FlaskClient:
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _statuses(client: FlaskClient, path: str, times: int, **kwargs: Any) -> list[int]:
    return [client.get(path, **kwargs).status_code for _ in range(times)]


def _user_token(settings: Settings, role: accounts.Role = "reader") -> str:
    redis_client = get_redis(settings)
    user, _ = accounts.add_user(redis_client, settings, f"{role}-{uuid.uuid4().hex[:8]}", role)
    _, secret = accounts.create_token(redis_client, settings, user.name, "user", "rate limits")
    return secret


def _assert_problem_429(response: TestResponse, names: str, window_s: int = 60) -> None:
    assert response.status_code == 429
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == 429
    assert body["title"] == "Too Many Requests"
    assert names in body["detail"], body
    assert 1 <= int(response.headers["Retry-After"]) <= window_s


def test_search_is_limited_per_address(limited: Settings) -> None:
    app = _app(limited)
    first = _from(app.test_client(), "10.0.0.1")
    # The page and the API share one count; X-Forwarded-For does not change the address.
    spoofed = {"X-Forwarded-For": "203.0.113.9"}
    assert _statuses(first, "/api/search?q=x", 2, headers=spoofed) == [200, 200]
    assert first.get("/?q=x").status_code == 200
    over = first.get("/api/search?q=x", headers={"X-Forwarded-For": "203.0.113.10"})
    _assert_problem_429(over, "from the address 10.0.0.1")
    assert "3 per 1 minute" in over.get_json()["detail"]
    # A page over the limit is the error page, with the same header.
    page = first.get("/?q=x")
    assert page.status_code == 429
    assert page.mimetype == "text/html"
    assert "Too Many Requests" in page.get_data(as_text=True)
    assert 1 <= int(page.headers["Retry-After"]) <= 60
    # The feeds are searches too.
    assert first.get("/feed.atom?q=x").status_code == 429
    # Another address has its own count; other routes are not limited.
    assert _from(app.test_client(), "10.0.0.2").get("/api/search?q=x").status_code == 200
    assert first.get("/api/suggest?q=").status_code == 200
    assert first.get("/healthz").status_code in (200, 503)
    # A logged-in user behind the limited address is held by the address's count.
    token = _user_token(limited)
    behind = first.get("/api/search?q=x", headers={"Authorization": f"Bearer {token}"})
    _assert_problem_429(behind, "from the address 10.0.0.1")


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_count(
    limited: Settings,
) -> None:
    app = _app(limited, trusted_proxy_hops=1)
    proxy = _from(app.test_client(), "10.0.0.7")
    # The proxy appends the address it saw; what the client wrote before it is not believed.
    first = {"X-Forwarded-For": "198.51.100.1, 203.0.113.1"}
    assert _statuses(proxy, "/api/search?q=x", 3, headers=first) == [200, 200, 200]
    _assert_problem_429(proxy.get("/api/search?q=x", headers=first), "from the address 203.0.113.1")
    forged = {"X-Forwarded-For": "203.0.113.2, 203.0.113.1"}
    _assert_problem_429(proxy.get("/api/search?q=x", headers=forged), "203.0.113.1")
    second = {"X-Forwarded-For": "203.0.113.2"}
    assert proxy.get("/api/search?q=x", headers=second).status_code == 200
    # Ingest takes its clients' addresses from the same setting.
    ingest_app = ingest.create_app(
        {
            "TESTING": True,
            "NEWSROOM_SETTINGS": limited.model_copy(update={"trusted_proxy_hops": 1}),
        }
    )
    seen: list[str | None] = []
    ingest_app.before_request(lambda: seen.append(request.remote_addr))
    ingest_app.test_client().get("/healthz", headers=second)
    assert seen == ["203.0.113.2"]


def test_a_users_limit_follows_them_across_addresses(limited: Settings) -> None:
    app = _app(limited)
    token = _user_token(limited)
    name = accounts.list_tokens(get_redis(limited), limited)[0].owner
    bearer = {"Authorization": f"Bearer {token}"}
    for address in ("10.1.0.1", "10.1.0.2", "10.1.0.3"):
        assert (
            _from(app.test_client(), address).get("/api/search", headers=bearer).status_code == 200
        )
    over = _from(app.test_client(), "10.1.0.4").get("/api/search", headers=bearer)
    _assert_problem_429(over, f"for {name}")
    # The fourth address itself is not held, nor is another user there.
    fourth = _from(app.test_client(), "10.1.0.4")
    assert fourth.get("/api/search").status_code == 200
    other = {"Authorization": f"Bearer {_user_token(limited)}"}
    assert fourth.get("/api/search", headers=other).status_code == 200
    # A session counts for its user as a token does.
    login = sign_in(app, "reader")
    browser = _from(login.apply(app.test_client()), "10.1.1.1")
    assert _statuses(browser, "/?q=y", 3) == [200, 200, 200]
    moved = _from(login.apply(app.test_client()), "10.1.1.2")
    page = moved.get("/?q=y")
    assert page.status_code == 429
    assert f"for {login.name}" in page.get_data(as_text=True)


def test_export_and_suggest_are_limited(limited: Settings) -> None:
    app = _app(limited)
    client = _from(app.test_client(), "10.2.0.1")
    assert _statuses(client, "/api/export?format=ndjson", 2) == [200, 200]
    _assert_problem_429(client.get("/api/export?format=csv"), "Exports are limited to 2 per")
    # Each kind has its own count: suggest still has its 4.
    assert _statuses(client, "/api/suggest?q=pre", 4) == [200] * 4
    _assert_problem_429(client.get("/api/suggest?q=pres"), "Suggestion requests are limited")
    assert client.get("/api/search").status_code == 200


def test_saved_search_creation_is_limited(limited: Settings) -> None:
    app = _app(limited)
    login = sign_in(app, "editor")
    client = _from(login.apply(app.test_client()), "10.3.0.1")
    body = {"name": "ports", "q": "port", "mode": "keyword"}
    assert client.post("/api/saved-searches", json=body).status_code == 201
    # The form and the API share the count.
    form = client.post("/saved", data={"name": "ports 2", "q": "port", "mode": "keyword"})
    assert form.status_code == 201, form.get_data(as_text=True)
    over = client.post("/api/saved-searches", json=body)
    # Both counts (the editor's, the address's) are over: the first checked is named.
    _assert_problem_429(over, "New saved searches are limited to 2 per 1 hour", 3600)
    assert int(over.headers["Retry-After"]) > 60
    page = client.post("/saved", data={"name": "ports 3", "q": "port", "mode": "keyword"})
    assert page.status_code == 429
    assert page.mimetype == "text/html"
    # Nothing over the limit was saved; reading them is not limited.
    listed = client.get("/api/saved-searches").get_json()["saved_searches"]
    assert sorted(s["name"] for s in listed) == ["ports", "ports 2"]


def test_limits_off_count_nothing(limited: Settings) -> None:
    app = _app(limited, rate_limits_enabled=False)
    client = _from(app.test_client(), "10.4.0.1")
    assert _statuses(client, "/api/search", 8) == [200] * 8
    assert _statuses(client, "/api/suggest?q=", 8) == [200] * 8
    assert (
        list(get_redis(limited).scan_iter(f"{limited.index_prefix}:ratelimit:*", count=1000)) == []
    )


def test_counters_live_under_the_prefix_and_expire(limited: Settings) -> None:
    client = _from(_app(limited).test_client(), "10.5.0.1")
    assert client.get("/api/suggest?q=").status_code == 200
    redis_client = get_redis(limited)
    keys = list(redis_client.scan_iter(f"{limited.index_prefix}:ratelimit:*", count=1000))
    assert len(keys) == 1
    assert "address:10.5.0.1" in keys[0]
    assert 0 < redis_client.ttl(keys[0]) <= 60


def test_redis_down_counts_in_memory_never_500(
    limited: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis unreachable (nothing listens on port 1): the limiter counts in this process's
    memory, with a warning; the requests that need no Redis are answered, the limit holds."""
    app = _app(limited, redis_url="redis://127.0.0.1:1/0", redis_timeout_s=0.5)
    client = _from(app.test_client(), "10.6.0.1")
    with caplog.at_level(logging.WARNING, logger="flask-limiter"):
        assert _statuses(client, "/api/suggest?q=", 4) == [200] * 4
    assert "falling back to in-memory storage" in caplog.text
    _assert_problem_429(client.get("/api/suggest?q="), "from the address 10.6.0.1")
    assert _from(app.test_client(), "10.6.0.2").get("/api/suggest?q=").status_code == 200


def test_settings_refuse_what_is_not_a_limit() -> None:
    assert Settings().rate_limits_enabled is True
    Settings(rate_limit_search="10/minute;100/hour")
    for wrong in ("lots", "", "0/minute"):
        with pytest.raises(ValidationError):
            Settings(rate_limit_export=wrong)


def test_the_api_documents_429_where_it_limits() -> None:
    app = web.create_app({"TESTING": True})
    rules = {rule.endpoint: rule for rule in app.url_map.iter_rules()}
    document = openapi_document()
    limited_api = [
        rules[endpoint] for endpoint in LIMITED if rules[endpoint].rule.startswith("/api/")
    ]
    assert len(limited_api) == 4
    for rule in limited_api:
        method = "post" if "POST" in (rule.methods or ()) else "get"
        responses = document["paths"][rule.rule][method]["responses"]
        assert responses["429"] == {"$ref": "#/components/responses/TooManyRequests"}
    assert "Retry-After" in document["components"]["responses"]["TooManyRequests"]["headers"]
