"""Takedowns (shared/takedown.py, web/takedown_views.py, cli/takedown.py, ingest's refusal,
the worker's skip): against the real Redis, Elasticsearch and the run's Celery worker."""

from __future__ import annotations

import json
import random
import re
import subprocess
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

import web
from cli.main import cli
from shared import audit, saved_searches, takedown
from shared.clients import get_elasticsearch, get_redis
from shared.deadletters import add_dead_letters, get_dead_letters
from shared.index import index_name
from shared.schema import ArticleIn, to_payload
from shared.settings import Settings
from shared.status import get_state
from shared.tasks import enqueue_payloads, get_task_producer
from tests.conftest import signed_in_client, wait_until

Wait = Callable[[list[str]], None]

WORDS = [
    "harbour", "board", "port", "ferry", "terminal", "repairs", "inspectors", "cracks", "piers",
    "rust", "gangways", "council", "mayor", "budget", "tender", "contract", "engineers",
    "divers", "tide", "storm", "winter", "schedule", "passengers", "island", "bridge", "crane",
    "cargo", "warehouse", "union", "strike", "talks", "minister", "visit", "report", "audit",
    "lighthouse", "marina", "fishermen", "quota", "licence", "coast", "guard", "rescue", "boat",
    "engine", "fuel", "price",
]  # fmt: skip


def _text() -> str:
    """A text of its own: near-duplicate detection must not put two test articles together
    unless a test means it to (a random order of the words shares almost no 3-grams)."""
    rng = random.Random(uuid.uuid4().int)
    return "The " + " ".join(rng.sample(WORDS, 40)) + "."


def _article(tag: str, *, body: str | None = None, url: str | None = None) -> dict[str, Any]:
    return {
        "title": f"Takedown test {tag}",
        "body": body or _text(),
        "url": url or f"https://example.org/takedown/{tag}-{uuid.uuid4().hex[:8]}",
        "source": "Takedown Wire",
    }


def _post(ingest_client: FlaskClient, *articles: dict[str, Any]) -> Any:
    return ingest_client.post("/articles", json=list(articles))


def _indexed(
    ingest_client: FlaskClient, wait_indexed: Wait, *articles: dict[str, Any]
) -> list[str]:
    response = _post(ingest_client, *articles)
    assert response.status_code == 202, response.get_json()
    ids = [item["id"] for item in response.get_json()["articles"]]
    wait_indexed(ids)
    return ids


def _in_index(settings: Settings, article_id: str, index: str | None = None) -> bool:
    es = get_elasticsearch(settings)
    return bool(es.exists(index=index or settings.articles_alias, id=article_id))


def _take_down(client: FlaskClient, article_id: str, reason: str, **extra: Any) -> Any:
    return client.post(f"/api/articles/{article_id}/takedown", json={"reason": reason, **extra})


def test_takedown_removes_it_everywhere_and_its_page_is_gone(
    worker: subprocess.Popen[bytes],
    ingest_client: FlaskClient,
    admin_client: FlaskClient,
    settings: Settings,
    wait_indexed: Wait,
) -> None:
    es, r = get_elasticsearch(settings), get_redis(settings)
    # A saved search the worker records the article's match in (its title and link).
    word = f"tdword{uuid.uuid4().hex[:8]}"
    saved = admin_client.post("/api/saved-searches", json={"name": word, "q": word})
    assert saved.status_code == 201, saved.get_json()
    saved_id = saved.get_json()["id"]
    target, other = _indexed(
        ingest_client, wait_indexed, _article("a", body=f"{_text()} {word}"), _article("b")
    )
    wait_until(lambda: saved_searches.recent_matches(r, settings.index_prefix, saved_id, 5))
    # An earlier attempt's dead letter, and an older index a rebuild left behind.
    payload = es.get(index=settings.articles_alias, id=target)["_source"]["original"]
    add_dead_letters(r, settings.index_prefix, [({"id": target, **payload}, "400: old", 3)])
    older = index_name(settings, build="takedown-older")
    es.indices.create(index=older, mappings={"dynamic": False})
    try:
        es.index(index=older, id=target, document={"title": "older copy"}, refresh=True)

        response = _take_down(admin_client, target, "Court order 12/345: defamation")
        assert response.status_code == 201, response.get_json()
        result = response.get_json()
        assert result["documents_deleted"] == 2  # the live index and the older one
        assert result["dead_letters_removed"] == 1
        assert result["status_records_removed"] == 1
        assert result["saved_search_matches_removed"] == 1
        assert saved_searches.recent_matches(r, settings.index_prefix, saved_id, 5) == []
        assert result["takedown"]["actor"].startswith("admin-")
        assert not _in_index(settings, target)
        assert not _in_index(settings, target, older)
        assert get_dead_letters(r, settings.index_prefix, [target]) == []
        assert get_state(r, settings.index_prefix, target) is None
        assert _in_index(settings, other)  # nothing else
    finally:
        es.indices.delete(index=older)
        admin_client.delete(f"/api/saved-searches/{saved_id}")

    page = admin_client.get(f"/articles/{target}")
    assert page.status_code == 410
    assert "Court order 12/345: defamation" in page.get_data(as_text=True)
    api = admin_client.get(f"/api/articles/{target}")
    assert api.status_code == 410
    assert "Court order 12/345" in api.get_json()["detail"]
    assert admin_client.get(f"/api/articles/{target}/related").status_code == 410
    status = ingest_client.get(f"/articles/{target}")
    assert status.status_code == 410
    assert status.get_json()["taken_down"]["reason"] == "Court order 12/345: defamation"
    assert "actor" not in status.get_json()["taken_down"]  # no admin's name to ingest clients

    listed = admin_client.get("/api/takedowns").get_json()
    assert target in [item["id"] for item in listed["takedowns"]]
    events = audit.read(r, settings, action="article.takedown", limit=20)
    assert any(event["target"] == target for event in events)
    assert admin_client.delete(f"/api/articles/{target}/takedown").status_code == 200
    events = audit.read(r, settings, action="article.restore", limit=20)
    assert any(event["target"] == target for event in events)


def test_a_repost_is_refused_with_the_reason_until_lifted(
    worker: subprocess.Popen[bytes],
    ingest_client: FlaskClient,
    admin_client: FlaskClient,
    wait_indexed: Wait,
) -> None:
    removed, fresh = _article("removed"), _article("fresh")
    (target,) = _indexed(ingest_client, wait_indexed, removed)
    assert _take_down(admin_client, target, "Retracted by the publisher").status_code == 201

    # In a batch: the taken-down article is rejected with its reason, the other accepted.
    batch = _post(ingest_client, removed, fresh)
    assert batch.status_code == 202, batch.get_json()
    body = batch.get_json()
    assert body["accepted"] == 1
    assert target not in [item["id"] for item in body["articles"]]
    (rejected,) = body["rejected"]
    assert rejected["index"] == 0
    assert rejected["id"] == target
    assert rejected["taken_down"]["reason"] == "Retracted by the publisher"
    assert "Retracted by the publisher" in rejected["errors"][0]["message"]

    # Alone (NDJSON too): refused as a whole, 409 with the reason.
    alone = _post(ingest_client, removed)
    assert alone.status_code == 409
    assert alone.get_json()["rejected"][0]["taken_down"]["reason"] == "Retracted by the publisher"
    ndjson = ingest_client.post(
        "/articles",
        data=json.dumps(removed) + "\n",
        content_type="application/x-ndjson",
    )
    assert ndjson.status_code == 409
    assert ndjson.get_json()["rejected"][0]["line"] == 1

    lifted = admin_client.delete(f"/api/articles/{target}/takedown")
    assert lifted.status_code == 200
    assert [item["id"] for item in lifted.get_json()["lifted"]] == [target]
    assert admin_client.delete(f"/api/articles/{target}/takedown").status_code == 404
    assert _indexed(ingest_client, wait_indexed, removed) == [target]


def test_copies_go_only_when_asked(
    worker: subprocess.Popen[bytes],
    ingest_client: FlaskClient,
    admin_client: FlaskClient,
    settings: Settings,
    wait_indexed: Wait,
) -> None:
    text = _text()
    original, reposted = _article("original", body=text), _article("copy", body=text)
    (first,) = _indexed(ingest_client, wait_indexed, original)
    (copy,) = _indexed(ingest_client, wait_indexed, reposted)
    stored = get_elasticsearch(settings).get(index=settings.articles_alias, id=copy)
    assert stored["_source"]["duplicates"]["cluster_id"] == first

    alone = _take_down(admin_client, first, "Embargo broken")
    assert alone.get_json()["copies"] == []
    assert _in_index(settings, copy)
    assert _post(ingest_client, reposted).status_code == 202  # the copy is not refused

    # Again with its copies (the article itself is gone already: its record kept its cluster).
    both = _take_down(admin_client, first, "Embargo broken", with_copies=True)
    assert both.status_code == 201, both.get_json()
    assert both.get_json()["copies"] == [copy]
    assert not _in_index(settings, copy)
    records = admin_client.get("/api/takedowns").get_json()["takedowns"]
    assert {item["id"]: item["copy_of"] for item in records}[copy] == first
    refused = _post(ingest_client, reposted)
    assert refused.status_code == 409
    assert refused.get_json()["rejected"][0]["taken_down"]["reason"] == "Embargo broken"

    lifted = admin_client.delete(f"/api/articles/{first}/takedown?with_copies=1")
    assert sorted(item["id"] for item in lifted.get_json()["lifted"]) == sorted([first, copy])
    assert _post(ingest_client, reposted).status_code == 202


def test_only_admins_take_down_or_lift(
    web_app: Flask,
    web_client: FlaskClient,
    admin_client: FlaskClient,
    anonymous_client: FlaskClient,
) -> None:
    article_id = uuid.uuid4().hex
    reader = signed_in_client(web_app, "reader")
    for client, status in ((reader, 403), (web_client, 403), (anonymous_client, 401)):
        assert _take_down(client, article_id, "no").status_code == status
        assert client.delete(f"/api/articles/{article_id}/takedown").status_code == status
        assert client.get("/api/takedowns").status_code == status
        page = client.get("/admin/takedowns")
        assert page.status_code == (303 if status == 401 else 403)
        form = client.post(f"/articles/{article_id}/takedown", data={"reason": "no"})
        assert form.status_code in (303, 403)  # the login page, or refused
    assert admin_client.get("/api/takedowns").status_code == 200
    assert admin_client.delete(f"/api/articles/{article_id}/takedown").status_code == 404


def test_bad_requests_are_4xx(admin_client: FlaskClient) -> None:
    article_id = uuid.uuid4().hex
    assert _take_down(admin_client, article_id, "   ").status_code == 400
    assert _take_down(admin_client, article_id, "x" * 1001).status_code == 400
    assert _take_down(admin_client, "not-an-id", "why").status_code == 400
    bad = admin_client.post(f"/api/articles/{article_id}/takedown", json={"reason": 5})
    assert bad.status_code == 400
    flag = admin_client.post(
        f"/api/articles/{article_id}/takedown", json={"reason": "why", "with_copies": "yes"}
    )
    assert flag.status_code == 400
    assert admin_client.post(f"/api/articles/{article_id}/takedown", data="[").status_code == 400
    assert admin_client.get("/api/takedowns?limit=0").status_code == 400
    assert admin_client.get("/api/takedowns?offset=x").status_code == 400


def test_the_forms_take_down_and_lift_with_their_csrf_token(
    web_app: Flask,
    admin_client: FlaskClient,
    admin_login: Any,
    web_client: FlaskClient,
    ingest_client: FlaskClient,
    worker: subprocess.Popen[bytes],
    wait_indexed: Wait,
) -> None:
    (article_id,) = _indexed(ingest_client, wait_indexed, _article("form"))
    page = admin_client.get(f"/articles/{article_id}").get_data(as_text=True)
    assert 'id="takedown-reason"' in page
    assert 'id="takedown-reason"' not in web_client.get(f"/articles/{article_id}").get_data(
        as_text=True
    )
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token

    # Without the token (no header, no field): refused.
    bare = web_app.test_client()
    bare.set_cookie("session", admin_login.cookie)
    forged = bare.post(f"/articles/{article_id}/takedown", data={"reason": "forged"})
    assert forged.status_code == 403

    bare = web_app.test_client()
    bare.set_cookie("session", admin_login.cookie)
    done = bare.post(
        f"/articles/{article_id}/takedown",
        data={"reason": "Legal: privacy", "csrf_token": token.group(1)},
    )
    assert done.status_code == 303
    listing = bare.get(done.headers["Location"]).get_data(as_text=True)
    assert article_id in listing
    assert "Legal: privacy" in listing
    lift_token = re.search(r'name="csrf_token" value="([^"]+)"', listing)
    assert lift_token
    lifted = bare.post(
        f"/admin/takedowns/{article_id}/lift", data={"csrf_token": lift_token.group(1)}
    )
    assert lifted.status_code == 303
    assert f"<code>{article_id}</code></td>" not in bare.get("/admin/takedowns").get_data(
        as_text=True
    )


def test_the_worker_skips_an_article_taken_down_while_queued(
    worker: subprocess.Popen[bytes],
    ingest_client: FlaskClient,
    settings: Settings,
    wait_indexed: Wait,
) -> None:
    """A takedown of an article already queued (or queued again by a dead-letter replay or a
    rebuild, which do not go through ingest): the real worker never indexes it."""
    r = get_redis(settings)
    now = datetime.now(UTC)
    removed, kept = (
        to_payload(ArticleIn(**_article(tag)), content_type="application/json", received_at=now)
        for tag in ("queued-removed", "queued-kept")
    )
    takedown.take_down(get_elasticsearch(settings), r, settings, removed["id"], "Withdrawn", "test")
    # One task holding both, as ingest would have queued them before the takedown.
    enqueue_payloads(
        [removed, kept], celery_app=get_task_producer(settings), redis_client=r, settings=settings
    )
    wait_indexed([kept["id"]])
    assert not _in_index(settings, removed["id"])
    wait_until(lambda: get_state(r, settings.index_prefix, removed["id"]) is None)
    assert get_dead_letters(r, settings.index_prefix, [removed["id"]]) == []
    takedown.lift(r, settings, removed["id"], "test")


def test_a_takedown_during_enrichment_removes_what_the_batch_wrote(settings: Settings) -> None:
    """The takedown lands after the batch's check and before its bulk (the race): the batch
    removes what it wrote, and neither alerts on nor retries the article."""
    from worker.pipeline import process_batch

    es, r = get_elasticsearch(settings), get_redis(settings)
    now = datetime.now(UTC)
    removed, kept = (
        to_payload(ArticleIn(**_article(tag)), content_type="application/json", received_at=now)
        for tag in ("race-removed", "race-kept")
    )

    def on_step(step: str) -> None:
        if step == "index":  # just before the bulk
            takedown.take_down(es, r, settings, removed["id"], "Withdrawn mid-batch", "test")

    outcome = process_batch(
        [removed, kept], es=es, redis_client=r, settings=settings, on_step=on_step
    )
    assert outcome.indexed == [kept["id"]]
    es.indices.refresh(index=settings.articles_alias)
    assert not _in_index(settings, removed["id"])
    assert _in_index(settings, kept["id"])
    assert get_state(r, settings.index_prefix, removed["id"]) is None
    takedown.lift(r, settings, removed["id"], "test")


def test_the_command_line(
    worker: subprocess.Popen[bytes],
    ingest_client: FlaskClient,
    settings: Settings,
    wait_indexed: Wait,
) -> None:
    (article_id,) = _indexed(ingest_client, wait_indexed, _article("cli"))
    runner = CliRunner()
    added = runner.invoke(
        cli, ["takedown", "add", article_id, "--reason", "Editorial: wrong photo"], obj=settings
    )
    assert added.exit_code == 0, added.output
    assert "1 index document(s)" in added.output
    assert not _in_index(settings, article_id)
    listed = runner.invoke(cli, ["takedown", "list", "--as-json"], obj=settings)
    assert article_id in listed.output
    assert "Editorial: wrong photo" in listed.output
    for bad in ("0", "-1"):
        refused_limit = runner.invoke(cli, ["takedown", "list", "--limit", bad], obj=settings)
        assert refused_limit.exit_code == 2, refused_limit.output  # not "every takedown"
    events = audit.read(get_redis(settings), settings, action="article.takedown", limit=20)
    event = next(e for e in events if e["target"] == article_id)
    assert event["actor"].startswith("cli:")
    lifted = runner.invoke(cli, ["takedown", "lift", article_id], obj=settings)
    assert lifted.exit_code == 0, lifted.output
    again = runner.invoke(cli, ["takedown", "lift", article_id], obj=settings)
    assert again.exit_code == 1
    assert "not taken down" in again.output
    refused = runner.invoke(cli, ["takedown", "add", "nope", "--reason", "x"], obj=settings)
    assert refused.exit_code == 1


@pytest.mark.parametrize("reason", ["  spaced   out  "])
def test_the_reason_is_kept_tidy(settings: Settings, reason: str) -> None:
    r = get_redis(settings)
    article_id = uuid.uuid4().hex
    result = takedown.take_down(
        get_elasticsearch(settings), r, settings, article_id, reason, "test"
    )
    assert result.takedown["reason"] == "spaced out"
    assert takedown.get(r, settings, article_id) == result.takedown
    assert takedown.lift(r, settings, article_id, "test") == [result.takedown]
    assert takedown.get(r, settings, article_id) is None


def test_elasticsearch_down_is_a_503_and_the_record_stands(settings: Settings) -> None:
    """Never a 500: the takedown is recorded (re-posts are refused, the worker skips it) and
    the answer says to run it again to finish removing it."""
    down = settings.model_copy(update={"elasticsearch_url": "http://127.0.0.1:1"})
    app = web.create_app({"TESTING": True, "NEWSROOM_SETTINGS": down})
    client = signed_in_client(app, "admin")
    article_id = uuid.uuid4().hex
    response = _take_down(client, article_id, "Legal hold")
    assert response.status_code == 503
    assert "run it again" in response.get_json()["detail"]
    r = get_redis(settings)
    assert takedown.get(r, settings, article_id) is not None
    assert client.delete(f"/api/articles/{article_id}/takedown").status_code == 200


def test_a_rebuilds_new_index_is_purged_of_taken_down_articles(settings: Settings) -> None:
    """What `newsroom reindex` runs before switching (shared/index/rebuild.py): its copy pass
    read the old index at a point in time, perhaps before a takedown."""
    es, r = get_elasticsearch(settings), get_redis(settings)
    new = index_name(settings, build="takedown-rebuild")
    removed, kept = uuid.uuid4().hex, uuid.uuid4().hex
    takedown.take_down(es, r, settings, removed, "Withdrawn", "test")
    es.indices.create(index=new, mappings={"dynamic": False})
    try:
        for article_id in (removed, kept):
            es.index(index=new, id=article_id, document={"title": "copied"}, refresh=True)
        assert takedown.purge_index(es, r, settings, new) == 1
        assert not _in_index(settings, removed, new)
        assert _in_index(settings, kept, new)
    finally:
        es.indices.delete(index=new)
        takedown.lift(r, settings, removed, "test")


def test_an_alert_matching_as_the_takedown_lands_records_and_sends_nothing(
    worker: subprocess.Popen[bytes],
    ingest_client: FlaskClient,
    settings: Settings,
    wait_indexed: Wait,
) -> None:
    """The window between a takedown's record and its removals: the article is still in the
    index when a saved search's alert runs. The alert must neither record nor send it."""
    from tests.test_alerts import _saved
    from worker.alerts import evaluate_batch

    word = f"zq{uuid.uuid4().hex[:12]}"
    (article_id,) = _indexed(
        ingest_client, wait_indexed, _article("alert-race", body=f"{_text()} {word}.")
    )
    r = get_redis(settings)
    prefix = settings.index_prefix
    search = _saved(
        "keyword", id=saved_searches.new_id(), owner=None, query={"match": {"body": word}},
        knn_filter=[],
    )  # fmt: skip
    assert saved_searches.create(r, prefix, search, None, max_saved=10_000) == "created"
    try:
        es = get_elasticsearch(settings)
        # Without a takedown the alert finds it (so the check below is not vacuous) ...
        found = evaluate_batch([article_id], es=es, redis_client=r, settings=settings)
        assert [m["id"] for a in found if a.search.id == search.id for m in a.articles] == [
            article_id
        ]
        saved_searches.forget_matches(r, prefix, [article_id])
        # ... and with the record written, the document not yet deleted, nothing stays.
        record: takedown.Takedown = {
            "id": article_id, "reason": "Legal: race test", "actor": "test",
            "at": datetime.now(UTC).isoformat(), "copy_of": None, "cluster_id": None,
        }  # fmt: skip
        takedown._record(r, settings, [record], keep_existing=False)
        assert _in_index(settings, article_id)
        alerts = evaluate_batch([article_id], es=es, redis_client=r, settings=settings)
        assert all(a.search.id != search.id for a in alerts)
        assert r.zscore(f"{prefix}:saved:{search.id}:matches", article_id) is None
    finally:
        saved_searches.delete(r, prefix, search.id)
        takedown.lift(r, settings, article_id, "test")
