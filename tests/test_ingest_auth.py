"""Who may call ingest (issue 16): API tokens, the deprecated shared key, /metrics behind
auth, trusted hosts; and when auth is required (ingest/auth.py, docs/SECURITY.md).

Each test but the last runs ingest on settings of its own: its own account store (index
prefix) and queues that no worker consumes, deleted at the end; an ingest token in the run's
own store would close ingest for every later test of the run. The last one posts with an
editor's token (user tokens do not close ingest) through the run's worker, to the index.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pydantic import SecretStr

import ingest
from ingest.auth import DEPRECATION
from shared import accounts
from shared.clients import get_redis
from shared.settings import Settings
from tests.conftest import RUN_ID, drop_data

# Every route that needs credentials when auth is required, with a request that would
# otherwise succeed or fail on its own merits (never 401/403).
PROTECTED: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/articles", {"json": {"body": "auth test article"}}),
    ("POST", "/articles/status", {"json": {"ids": ["0" * 32]}}),
    ("GET", "/articles/" + "0" * 32, {}),
    ("GET", "/metrics", {}),
]
PUBLIC = ["/", "/healthz", "/openapi.json"]


def isolated(settings: Settings, name: str) -> Settings:
    """``settings`` with an account store (index prefix) and queues of their own, which no
    worker consumes; ``drop_data`` deletes them."""
    prefix = f"{settings.index_prefix}-{name}"
    queues = ("queue_name", "bulk_queue_name", "webhook_queue_name")
    return settings.model_copy(
        update={"index_prefix": prefix} | {queue: f"{prefix}-{queue}" for queue in queues}
    )


@pytest.fixture
def own(settings: Settings, services: None) -> Iterator[Settings]:
    """Settings of this test alone: an empty account store and queues no worker consumes."""
    mine = isolated(settings, f"auth-{uuid.uuid4().hex[:6]}")
    yield mine
    drop_data(mine)


def client_of(settings: Settings, **update: Any) -> FlaskClient:
    app: Flask = ingest.create_app(
        {"TESTING": True, "NEWSROOM_SETTINGS": settings.model_copy(update=update)}
    )
    return app.test_client()


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def statuses(client: FlaskClient, headers: dict[str, str] | None = None) -> list[int]:
    return [
        client.open(path, method=method, headers=headers, **kwargs).status_code
        for method, path, kwargs in PROTECTED
    ]


def assert_refused(client: FlaskClient, headers: dict[str, str] | None = None) -> None:
    """Every protected route answers 401 with a JSON problem; the public ones answer."""
    for method, path, kwargs in PROTECTED:
        response = client.open(path, method=method, headers=headers, **kwargs)
        assert response.status_code == 401, (method, path, response.data)
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["status"] == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    for path in PUBLIC:
        assert client.get(path, headers=headers).status_code == 200, path


def test_open_without_tokens_or_key_outside_production_until_an_ingest_token_exists(
    own: Settings,
) -> None:
    client = client_of(own)
    assert statuses(client) == [202, 200, 404, 200]
    assert client.get("/healthz").get_json()["auth"] == "open"

    r = get_redis(own)
    accounts.add_user(r, own, "reader1", "reader")
    accounts.create_token(r, own, "reader1", "user", "a user token opens nothing")
    assert statuses(client) == [202, 200, 404, 200]  # user tokens do not close ingest

    token, secret = accounts.create_token(r, own, "wire-feed", "ingest", "the wire")
    assert_refused(client)  # the same app: closed at once, /metrics included
    assert client.get("/healthz").get_json()["auth"] == "required"
    assert statuses(client, bearer(secret)) == [202, 200, 404, 200]
    (listed,) = [t for t in accounts.list_tokens(r, own) if t.id == token.id]
    assert listed.last_used_at is not None

    # Revoking the last ingest token does not open ingest again.
    accounts.revoke_token(r, own, token.id)
    assert_refused(client_of(own))


def test_sent_credentials_are_checked_even_when_open(own: Settings) -> None:
    client = client_of(own)
    assert client.get("/healthz").get_json()["auth"] == "open"
    for headers in (
        bearer("nr_0123456789abcdef_" + "x" * 43),  # well formed, unknown
        bearer("not-a-token"),
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer "},
        {"X-API-Key": "a key that is not set"},
    ):
        response = client.post("/articles", json={"body": "x"}, headers=headers)
        assert response.status_code == 401, headers
        assert response.mimetype == "application/problem+json"


def test_user_tokens_need_an_editor_or_an_admin(own: Settings) -> None:
    r = get_redis(own)
    accounts.create_token(r, own, "wire-feed", "ingest", "closes ingest")
    client = client_of(own)
    secrets = {}
    for role in accounts.ROLES:
        accounts.add_user(r, own, f"a-{role}", role)
        secrets[role] = accounts.create_token(r, own, f"a-{role}", "user", role)[1]
    forbidden = client.post("/articles", json={"body": "x"}, headers=bearer(secrets["reader"]))
    assert forbidden.status_code == 403
    assert forbidden.mimetype == "application/problem+json"
    assert "reader" in forbidden.get_json()["detail"]
    assert client.get("/metrics", headers=bearer(secrets["reader"])).status_code == 403
    for role in ("editor", "admin"):
        assert statuses(client, bearer(secrets[role])) == [202, 200, 404, 200], role

    accounts.disable_user(r, own, "a-editor")  # a disabled owner's tokens stop at once
    assert statuses(client, bearer(secrets["editor"])) == [401] * len(PROTECTED)


def test_a_revoked_token_is_refused_at_once(own: Settings) -> None:
    r = get_redis(own)
    token, secret = accounts.create_token(r, own, "wire-feed", "ingest", "to be revoked")
    other = accounts.create_token(r, own, "other-feed", "ingest", "stays")[1]
    client = client_of(own)
    assert client.post("/articles", json={"body": "x"}, headers=bearer(secret)).status_code == 202
    accounts.revoke_token(r, own, token.id)
    assert_refused(client, bearer(secret))  # the next request, same process: no cache
    assert client.post("/articles", json={"body": "x"}, headers=bearer(other)).status_code == 202


def test_the_deprecated_key_still_works_with_a_deprecation_header(
    own: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    key = "k" * 32
    client = client_of(own, ingest_api_key=SecretStr(key))
    assert_refused(client)  # a key set requires auth, as before
    assert client.get("/healthz").get_json()["auth"] == "required"
    with caplog.at_level(logging.WARNING, logger="ingest.auth"):
        for headers in (bearer(key), {"X-API-Key": key}, bearer(key)):
            response = client.post("/articles", json={"body": "keyed"}, headers=headers)
            assert response.status_code == 202
            assert response.headers["Deprecation"] == DEPRECATION
        assert client.get("/metrics", headers=bearer(key)).status_code == 200
    warnings = [rec for rec in caplog.records if "deprecated shared key" in rec.getMessage()]
    assert len(warnings) == 1  # once per process (app), not per request
    assert_refused(client, bearer("k" * 31))

    # A token is accepted beside the key, without the header.
    secret = accounts.create_token(get_redis(own), own, "wire-feed", "ingest", "beside")[1]
    response = client.post("/articles", json={"body": "tokened"}, headers=bearer(secret))
    assert response.status_code == 202
    assert "Deprecation" not in response.headers


def test_production_requires_auth_without_tokens_or_key(own: Settings) -> None:
    client = client_of(own, environment="production")
    assert_refused(client)
    assert client.get("/healthz").get_json()["auth"] == "required"


def test_metrics_with_a_token_are_the_prometheus_text(own: Settings) -> None:
    secret = accounts.create_token(get_redis(own), own, "scraper", "ingest", "prometheus")[1]
    client = client_of(own)
    assert client.get("/metrics").status_code == 401
    response = client.get("/metrics", headers=bearer(secret))
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert b"newsroom_http_requests_total" in response.data


def test_a_forged_host_is_refused(own: Settings) -> None:
    secret = accounts.create_token(get_redis(own), own, "wire-feed", "ingest", "hosts")[1]
    client = client_of(own, trusted_hosts=["ingest.example", ".newsroom.example"])
    for host in ("evil.example", "ingest.example.evil.example", "127.0.0.1"):
        for path in ("/articles", "/healthz", "/metrics"):
            response = client.open(
                path, method="POST" if path == "/articles" else "GET",
                json={"body": "x"}, headers={**bearer(secret), "Host": host},
            )  # fmt: skip
            assert response.status_code == 400, (host, path)
            assert response.mimetype == "application/problem+json"
    for host in ("ingest.example", "ingest.example:8001", "api.newsroom.example"):
        response = client.post(
            "/articles", json={"body": "x"}, headers={**bearer(secret), "Host": host}
        )
        assert response.status_code == 202, host
        assert response.get_json()["articles"][0]["status_url"].startswith(f"http://{host}/")


@pytest.mark.stack
def test_an_editors_token_posts_through_the_worker_to_the_index(
    settings: Settings,
    worker: object,
    sample_text: str,
    wait_indexed: Callable[[list[str]], None],
) -> None:
    """The run's own store and queues; production makes auth required without an ingest
    token (which would close the run's ingest for every later test)."""
    r = get_redis(settings)
    name = f"ingest-editor-{RUN_ID}"
    accounts.add_user(r, settings, name, "editor")
    token, secret = accounts.create_token(r, settings, name, "user", "test_ingest_auth")
    client = client_of(settings, environment="production")
    try:
        assert (
            client.post("/articles", data=sample_text, content_type="text/plain").status_code == 401
        )
        posted = client.post(
            "/articles?source=Trend",
            data=sample_text,
            content_type="text/plain; charset=utf-8",
            headers=bearer(secret),
        )
        assert posted.status_code == 202
        article_id = posted.get_json()["articles"][0]["id"]
        wait_indexed([article_id])
        state = client.get(f"/articles/{article_id}", headers=bearer(secret))
        assert state.get_json()["state"] == "indexed"
    finally:
        accounts.revoke_token(r, settings, token.id)
        accounts.disable_user(r, settings, name)
