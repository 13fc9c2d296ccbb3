"""The audit log (shared/audit.py, web/audit_views.py, ingest/audit.py, cli/audit.py): each
recorded write path writes its event (who, what, target, from where), sizes stay bounded, the
stream stays capped, and only admins read it (page, JSON, NDJSON). Real Redis; the web and
ingest apps through their test clients; the CLI through click's runner, in process."""

from __future__ import annotations

import getpass
import json
import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from pydantic import SecretStr
from schemathesis.generation import GenerationMode

import ingest
import web
from cli.audit import cli_actor
from cli.main import cli
from shared import accounts, audit
from shared.clients import get_redis
from shared.settings import Settings
from tests.conftest import Login, drop_data, sign_in
from tests.test_fuzz_api import ACCEPTANCE, CONFORMANCE, _checks, unstated_rule
from tests.test_ingest_auth import isolated
from web.audit_views import audit as web_audit


def _newest(settings: Settings, **filters: str) -> list[audit.AuditEvent]:
    return audit.read(get_redis(settings), settings, limit=20, **filters)


@pytest.fixture
def own(settings: Settings, services: None) -> Iterator[Settings]:
    """An audit log (and account store, queues) of this test alone."""
    mine = isolated(settings, f"audit-{uuid.uuid4().hex[:6]}")
    yield mine
    drop_data(mine)


# --- the store ---------------------------------------------------------------------------


def test_hostile_sizes_are_cut(own: Settings) -> None:
    r = get_redis(own)
    detail: dict[str, audit.DetailValue] = {f"k{n}": "v" * 10_000 for n in range(100)}
    detail["x" * 1000] = 7
    audit.record(r, own, actor="a" * 10_000, action="b" * 10_000, target="t" * 1_000_000,
                 address="1" * 1000, detail=detail)  # fmt: skip
    (event,) = audit.read(r, own)
    assert len(event["actor"]) == audit.MAX_ACTOR_CHARS
    assert event["actor"].endswith("…")
    assert len(event["action"]) == audit.MAX_ACTION_CHARS
    assert len(event["target"]) == audit.MAX_TARGET_CHARS
    assert len(event["address"] or "") == audit.MAX_ADDRESS_CHARS
    assert len(event["detail"]) == audit.MAX_DETAIL_KEYS
    assert all(len(str(v)) <= audit.MAX_DETAIL_VALUE_CHARS for v in event["detail"].values())
    # The whole event as stored: a few KB, whatever was sent.
    stored = r.memory_usage(audit.audit_key(own))
    assert stored is not None
    assert stored < 32_000


def test_the_stream_is_capped(own: Settings) -> None:
    capped = own.model_copy(update={"audit_max_events": 100})
    r = get_redis(capped)
    pipe = r.pipeline(transaction=False)
    for n in range(1000):
        pipe.xadd(audit.audit_key(capped), {"actor": "x", "action": "fill", "n": n})
    pipe.execute()
    audit.record(r, capped, actor="last", action="fill", target="t")
    # "~" trims whole nodes of the stream (100 entries each by default): near the cap, never 1000.
    assert 100 <= r.xlen(audit.audit_key(capped)) < 300
    assert audit.read(r, capped, limit=1)[0]["actor"] == "last"


def test_reading_pages_and_filters(own: Settings) -> None:
    r = get_redis(own)
    for n in range(30):
        audit.record(r, own, actor="ann" if n % 2 else "bob",
                     action="saved.create" if n % 3 else "user.add", target=str(n),
                     detail={"n": n})  # fmt: skip
    assert [e["target"] for e in audit.read(r, own, limit=3)] == ["29", "28", "27"]
    first = audit.read_page(r, own, limit=4, actor="ann", action="saved.")
    assert [e["target"] for e in first["events"]] == ["29", "25", "23", "19"]
    assert first["next_before"] == first["events"][-1]["id"]
    rest = audit.read_page(r, own, limit=100, actor="ann", action="saved.*",
                           before=first["next_before"])  # fmt: skip
    assert [e["target"] for e in rest["events"]] == ["17", "13", "11", "7", "5", "1"]
    assert rest["next_before"] is None
    assert {e["action"] for e in audit.read(r, own, action="user.add")} == {"user.add"}
    assert audit.read(r, own, action="saved") == []  # exact unless it ends in "." or "*"
    # Bounds Redis would refuse: nothing is older than 0-0, everything than a part past 2**64.
    assert audit.read(r, own, before="0000-0") == []
    assert len(audit.read(r, own, before="99999999999999999999-0")) == 30
    assert len(audit.read(r, own, before="1-99999999999999999999")) == 0
    with pytest.raises(ValueError, match="event id"):
        audit.read(r, own, before="0 OR 1")


# --- the web -----------------------------------------------------------------------------


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def test_saved_search_writes_are_recorded(
    web_client: FlaskClient, editor_login: Login, settings: Settings
) -> None:
    created = web_client.post(
        "/api/saved-searches",
        json={"name": "audited", "q": "harbour", "webhook_url": "https://hooks.example/x?secret=s3"},
    )  # fmt: skip
    assert created.status_code == 201, created.get_json()
    saved_id = created.get_json()["id"]
    patched = web_client.patch(f"/api/saved-searches/{saved_id}", json={"shared": True})
    assert patched.status_code == 200
    edited = web_client.post(f"/saved/{saved_id}/edit", data={"name": "renamed", "shared": "1"})
    assert edited.status_code == 303
    deleted = web_client.delete(f"/api/saved-searches/{saved_id}")
    assert deleted.status_code == 204

    events = [e for e in _newest(settings, actor=editor_login.name) if e["target"] == saved_id]
    assert [e["action"] for e in events] == ["saved.delete", "saved.edit", "saved.edit",
                                             "saved.create"]  # fmt: skip
    _, form_edit, api_edit, create = events
    assert create["address"] == "127.0.0.1"
    assert create["detail"]["webhook"] == "hooks.example"  # the host only, never the URL
    assert "s3" not in json.dumps(create)
    assert create["detail"]["owner"] == editor_login.name
    assert api_edit["detail"]["changed"] == "shared"
    assert api_edit["detail"]["shared"] is True
    assert form_edit["detail"]["name"] == "renamed"

    form = web_client.post("/saved", data={"q": "harbour", "name": "by form"})
    assert form.status_code == 201
    made = _newest(settings, actor=editor_login.name, action="saved.create")[0]
    assert made["detail"]["name"] == "by form"
    gone = web_client.post(f"/saved/{made['target']}/delete", data={})
    assert gone.status_code == 303
    assert _newest(settings, action="saved.delete")[0]["target"] == made["target"]


def test_a_refused_write_records_nothing(web_client: FlaskClient, settings: Settings) -> None:
    before = _newest(settings)[:1]
    assert web_client.delete(f"/api/saved-searches/{'0' * 32}").status_code == 404
    assert _newest(settings)[:1] == before


def test_logins_and_logouts_are_recorded(web_app: Flask, settings: Settings) -> None:
    name = f"audited-{uuid.uuid4().hex[:8]}"
    _, password = accounts.add_user(get_redis(settings), settings, name, "reader")
    client = web_app.test_client()
    token = _csrf(client.get("/login").get_data(as_text=True))
    wrong = client.post("/login", data={"name": name, "password": "nope", "csrf_token": token})
    assert wrong.status_code == 401
    right = client.post("/login", data={"name": name, "password": password, "csrf_token": token})
    assert right.status_code == 303
    page = client.get("/login").get_data(as_text=True)
    assert client.post("/logout", data={"csrf_token": _csrf(page)}).status_code == 303

    events = [e for e in _newest(settings) if e["target"] == name][:3]
    assert [(e["action"], e["actor"]) for e in events] == [
        ("logout", name),
        ("login", name),
        ("login.failed", "anonymous"),
    ]
    assert all(e["address"] == "127.0.0.1" for e in events)
    # A password typed into the name box is no user's name: it is not recorded.
    secret = f"Hunter2-{uuid.uuid4().hex}"
    fresh = _csrf(client.get("/login").get_data(as_text=True))
    pasted = client.post("/login", data={"name": secret, "password": "x", "csrf_token": fresh})
    assert pasted.status_code == 401
    newest = _newest(settings)[0]
    assert newest["action"] == "login.failed"
    assert newest["target"] == "(unknown name)"
    assert secret.lower() not in json.dumps(_newest(settings)).lower()


def test_an_event_redis_refuses_is_logged_not_raised(
    web_app: Flask, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    closed = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0",
                                         "redis_timeout_s": 0.5})  # fmt: skip
    app = web.create_app({"TESTING": True, "NEWSROOM_SETTINGS": closed})
    with app.test_request_context("/saved", method="POST"), caplog.at_level(logging.WARNING):
        web_audit("saved.create", "abc", name="kept in the log")
    assert "audit event not recorded" in caplog.text
    assert "kept in the log" in caplog.text


@pytest.fixture(scope="module")
def reader_login(web_app: Flask) -> Login:
    return sign_in(web_app, "reader")


ADMIN_ROUTES = ["/admin/audit", "/api/audit", "/api/audit.ndjson"]


@pytest.mark.parametrize("path", ADMIN_ROUTES)
def test_only_admins_read_the_log(
    path: str,
    web_app: Flask,
    web_client: FlaskClient,
    reader_login: Login,
    anonymous_client: FlaskClient,
    admin_client: FlaskClient,
) -> None:
    assert web_client.get(path).status_code == 403
    assert reader_login.apply(web_app.test_client()).get(path).status_code == 403
    anonymous = anonymous_client.get(path)
    if path.startswith("/api/"):
        assert anonymous.status_code == 401
    else:  # a page sends the visitor to log in
        assert anonymous.status_code == 303
        assert "/login" in anonymous.headers["Location"]
    assert admin_client.get(path).status_code == 200


def test_the_admin_page_filters_and_pages(
    admin_client: FlaskClient, web_client: FlaskClient, settings: Settings
) -> None:
    r = get_redis(settings)
    actor = f"pager-{uuid.uuid4().hex[:6]}"
    for n in range(3):
        audit.record(r, settings, actor=actor, action="test.page", target=f"<b>t{n}</b>")
    html = admin_client.get(f"/admin/audit?actor={actor}&limit=2").get_data(as_text=True)
    shown = re.findall(r"&lt;b&gt;(t\d)&lt;/b&gt;", html)  # escaped
    assert shown == ["t2", "t1"]
    older = re.search(r'href="(/admin/audit\?[^"]*before=[^"]+)"', html)
    assert older, html
    html = admin_client.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert re.findall(r"&lt;b&gt;(t\d)&lt;/b&gt;", html) == ["t0"]
    # The admin's nav links to it; an editor's does not.
    assert 'href="/admin/audit"' in admin_client.get("/saved").get_data(as_text=True)
    assert 'href="/admin/audit"' not in web_client.get("/saved").get_data(as_text=True)
    assert admin_client.get("/admin/audit?before=nope").status_code == 400


def test_the_json_and_ndjson_exports(admin_client: FlaskClient, settings: Settings) -> None:
    r = get_redis(settings)
    actor = f"export-{uuid.uuid4().hex[:6]}"
    for n in range(5):
        audit.record(r, settings, actor=actor, action="test.export", target=f"line\n{n}",
                     detail={"n": n, "text": 'quote " and \u2028'})  # fmt: skip
    page = admin_client.get(f"/api/audit?actor={actor}&limit=2").get_json()
    assert [e["detail"]["n"] for e in page["events"]] == [4, 3]
    rest = admin_client.get(f"/api/audit?actor={actor}&before={page['next_before']}").get_json()
    assert [e["detail"]["n"] for e in rest["events"]] == [2, 1, 0]

    response = admin_client.get(f"/api/audit.ndjson?actor={actor}&limit=4")
    assert response.status_code == 200
    assert response.mimetype == "application/x-ndjson"
    assert response.headers["Cache-Control"] == "no-store"
    lines = response.get_data(as_text=True).split("\n")
    assert lines[-1] == ""  # every line ends with a newline
    events = [json.loads(line) for line in lines[:-1]]
    assert [e["target"] for e in events] == ["line\n4", "line\n3", "line\n2", "line\n1"]
    assert set(events[0]) == {"id", "at", "actor", "action", "target", "address", "detail"}

    for bad in ("limit=0", "limit=100001", "limit=x", "before=1", "actor=" + "a" * 201):
        refused = admin_client.get(f"/api/audit.ndjson?{bad}")
        assert refused.status_code == 400, bad
        assert refused.mimetype == "application/problem+json"


# --- ingest ------------------------------------------------------------------------------


def _ingest(settings: Settings) -> FlaskClient:
    app = ingest.create_app({"TESTING": True, "NEWSROOM_SETTINGS": settings})
    return app.test_client()


def test_each_accepted_ingest_post_is_one_event(own: Settings) -> None:
    """Anonymous (open), the deprecated key, a user token (its owner), an ingest token
    (``token:<id>``): one event per accepted request, with the counts."""
    articles = [{"title": "a", "body": "one"}, {"title": "b", "body": "two"}, {"title": 5}]
    assert _ingest(own).post("/articles", json=articles).status_code == 202
    keyed = own.model_copy(update={"ingest_api_key": SecretStr("k" * 32)})
    response = _ingest(keyed).post("/articles", json=articles[:1], headers={"X-API-Key": "k" * 32})
    assert response.status_code == 202
    r = get_redis(own)
    accounts.add_user(r, own, "inky", "editor")
    user_token, user_secret = accounts.create_token(r, own, "inky", "user", "cms")
    bearer = {"Authorization": f"Bearer {user_secret}"}
    assert _ingest(own).post("/articles", json=articles, headers=bearer).status_code == 202
    # Last: an ingest token closes this (isolated) ingest to anonymous posts.
    client_token, client_secret = accounts.create_token(r, own, "wire", "ingest", "feed")
    bearer = {"Authorization": f"Bearer {client_secret}"}
    assert (
        _ingest(own).post("/articles?queue=bulk", json=articles[:2], headers=bearer).status_code
        == 202
    )
    assert _ingest(own).post("/articles", json=[{"title": 5}], headers=bearer).status_code == 422

    events = audit.read(r, own, action="ingest.post")
    assert [(e["actor"], e["detail"]) for e in events] == [
        (f"token:{client_token.id}", {"owner": "wire", "accepted": 2, "rejected": 0}),
        ("inky", {"token": user_token.id, "accepted": 2, "rejected": 1}),
        ("key", {"accepted": 1, "rejected": 0}),
        ("anonymous", {"accepted": 2, "rejected": 1}),
    ]
    assert events[0]["target"] == own.bulk_queue_name
    assert all(e["address"] == "127.0.0.1" for e in events)


# --- the CLI -----------------------------------------------------------------------------


def test_cli_account_and_token_commands_are_recorded(own: Settings) -> None:
    runner = CliRunner()
    name = "clio"

    def run(*args: str) -> None:
        result = runner.invoke(cli, list(args), obj=own)
        assert result.exit_code == 0, result.output

    run("users", "add", name, "--role", "reader")
    run("users", "set-role", name, "editor")
    run("users", "disable", name)
    run("users", "enable", name)
    run("users", "reset-password", name)
    run("users", "set-email", name, "clio@example.org")
    run("users", "logout", name)
    run("tokens", "add", "--owner", name, "--kind", "user", "--label", "laptop")
    token_id = accounts.list_tokens(get_redis(own), own, owner=name)[0].id
    run("tokens", "revoke", token_id)
    refused = runner.invoke(cli, ["users", "add", name, "--role", "reader"], obj=own)
    assert refused.exit_code == 1  # already there: nothing recorded

    events = audit.read(get_redis(own), own)
    assert [(e["action"], e["target"]) for e in events] == [
        ("token.revoke", token_id),
        ("token.add", token_id),
        ("user.logout", name),
        ("user.set_email", name),
        ("user.reset_password", name),
        ("user.enable", name),
        ("user.disable", name),
        ("user.set_role", name),
        ("user.add", name),
    ]
    assert {e["actor"] for e in events} == {cli_actor()} == {f"cli:{getpass.getuser()}"}
    assert events[1]["detail"] == {"owner": name, "kind": "user", "label": "laptop"}
    assert events[-1]["detail"] == {"role": "reader"}
    assert events[3]["detail"] == {"email": "clio@example.org"}
    assert all(e["address"] for e in events)  # the host name
    assert "secret" not in json.dumps(events)


def test_cli_dead_letter_and_rebuild_commands_are_recorded(own: Settings) -> None:
    runner = CliRunner()
    missing = "f" * 32
    dropped = runner.invoke(cli, ["dlq", "drop", missing], obj=own)
    assert dropped.exit_code == 0, dropped.output
    aborted = runner.invoke(cli, ["reindex", "--abort"], obj=own)
    assert aborted.exit_code == 0, aborted.output
    events = audit.read(get_redis(own), own)
    assert [(e["action"], e["target"], e["detail"]) for e in events] == [
        ("index.rebuild.abort", "", {"dropped": False}),
        ("deadletter.drop", missing, {"count": 0}),
    ]


# --- generated requests, as an admin ----------------------------------------------------


@pytest.fixture(scope="module")
def admin_token(web_app: Flask, settings: Settings) -> Iterator[str]:
    r = get_redis(settings)
    name = f"audit-admin-{uuid.uuid4().hex[:6]}"
    accounts.add_user(r, settings, name, "admin")
    token, secret = accounts.create_token(r, settings, name, "user", "audit fuzz")
    yield secret
    accounts.revoke_token(r, settings, token.id)
    accounts.disable_user(r, settings, name)


@pytest.mark.parametrize("path", ["/api/audit", "/api/audit.ndjson"])
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_requests_as_an_admin(
    path: str, mode: GenerationMode, web_app: Flask, admin_token: str
) -> None:
    """tests/test_fuzz_api.py sends its requests as an editor (403 here): these reach the
    readers of the log, with its checks: no server error, documented statuses and bodies,
    valid accepted and invalid refused (but for its rules JSON Schema cannot state)."""
    operation = schemathesis.openapi.from_wsgi("/api/openapi.json", web_app)[path]["GET"]
    conformance, acceptance = _checks(CONFORMANCE), _checks(ACCEPTANCE)
    statuses: list[int] = []

    @hypothesis.settings(max_examples=25, deadline=None, database=None,
                         suppress_health_check=list(hypothesis.HealthCheck))  # fmt: skip
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        response = case.call(headers={"Authorization": f"Bearer {admin_token}"})
        statuses.append(response.status_code)
        case.validate_response(response, checks=conformance)
        if unstated_rule(case, response) is None:  # (a blank limit is absent, as documented)
            case.validate_response(response, checks=acceptance)

    check()
    # Both answers were reached (a negative case may be negative only in its Authorization
    # header, which the run replaces with its own).
    assert (200 if mode is GenerationMode.POSITIVE else 400) in statuses, statuses
