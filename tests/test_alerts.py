"""Saved searches with alerts (issue 4, item 10): matched against each batch as it is indexed,
delivered to the saved search's feeds and by webhook to a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import string
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from elasticsearch import Elasticsearch
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import Headers, MultiDict

from shared import accounts
from shared import saved_searches as store
from shared.clients import get_redis
from shared.http import ApiError
from shared.settings import Settings
from tests.conftest import Login, signed_in_client, wait_until
from web.saved import (
    MAX_NAME_CHARS,
    Viewer,
    check_webhook_url,
    may_change,
    may_see,
    read_input,
    same_origin,
)
from web.search import SearchRequest, build_match_query
from worker.alerts import Alert, evaluate_batch, match_body, owner_active, webhook_payload
from worker.webhooks import DeliveryError, is_public_address, post_json, sign

ATOM = "{http://www.w3.org/2005/Atom}"
WaitIndexed = Callable[[list[str]], None]


def _word() -> str:
    """A word no other article contains."""
    return "alrt" + "".join(random.choices(string.ascii_lowercase, k=8))


class Receiver:
    """A real webhook receiver: records every POST; answers the statuses given, then 200."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.posts: list[dict[str, Any]] = []
        self.statuses = list(statuses or [])
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.posts.append(
                    {"path": self.path, "headers": dict(self.headers), "raw": raw}
                )
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?x=1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(post["raw"]) for post in self.posts]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def failing_receiver() -> Iterator[Receiver]:
    server = Receiver([500])
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


# --- pure functions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/hook",
        "javascript:alert(1)",
        "example.org/hook",
        "http:///nohost",
        "https://user:pw@example.org/hook",
        "https://example.org:99999/hook",
        "https://example.org/a b",
        "https://example.org/" + "a" * 2000,
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://api.localhost/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
    ],
)
def test_bad_or_internal_webhook_urls_are_refused(url: str) -> None:
    with pytest.raises(ApiError) as raised:
        check_webhook_url(url, allow_private=False)
    assert raised.value.status == 400
    assert raised.value.extra["parameter"] == "webhook_url"


def test_webhook_urls_accepted() -> None:
    assert check_webhook_url("https://hooks.example.org/x?y=1", allow_private=False) == (
        "https://hooks.example.org/x?y=1"
    )
    assert check_webhook_url("  ", allow_private=False) is None
    assert check_webhook_url(None, allow_private=False) is None
    # Allowed for set-ups whose receiver is on the same machine (and the tests).
    assert check_webhook_url("http://127.0.0.1:9/h", allow_private=True) == "http://127.0.0.1:9/h"


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.0.0.5", False),
        ("192.168.1.1", False),
        ("172.16.0.1", False),
        ("100.64.0.1", False),
        ("169.254.169.254", False),
        ("0.0.0.0", False),  # noqa: S104 -- an address to check, not to bind
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fd00::1", False),
        ("::ffff:10.0.0.1", False),
        ("224.0.0.1", False),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def test_a_refused_address_is_never_contacted(receiver: Receiver) -> None:
    with pytest.raises(DeliveryError) as raised:
        post_json(receiver.url, b"{}", headers={}, timeout_s=2, deadline_s=5, allow_private=False)
    assert raised.value.permanent
    assert "non-public" in str(raised.value)
    assert receiver.posts == []


def test_post_json_statuses(receiver: Receiver) -> None:
    receiver.statuses = [503, 404, 302]
    for permanent in (False, True, True):  # 5xx is retried; 4xx and redirects are not
        with pytest.raises(DeliveryError) as raised:
            post_json(
                receiver.url, b"{}", headers={}, timeout_s=2, deadline_s=5, allow_private=True
            )
        assert raised.value.permanent is permanent
    delivered = post_json(
        receiver.url,
        b'{"a":1}',
        headers={"X-Test": "1"},
        timeout_s=2,
        deadline_s=5,
        allow_private=True,
    )
    assert delivered.status == 200
    last = receiver.posts[-1]
    assert last["path"] == "/hook?x=1"
    assert last["raw"] == b'{"a":1}'
    assert last["headers"]["X-Test"] == "1"
    assert last["headers"]["Content-Type"] == "application/json"
    # The connection goes to the address checked; the Host header still names the URL's host.
    assert last["headers"]["Host"] == receiver.url.split("/")[2]
    assert last["headers"]["User-Agent"] == "Newsroom-Alerts/1"


def test_a_closed_port_is_worth_retrying() -> None:
    with pytest.raises(DeliveryError) as raised:
        post_json(
            "http://127.0.0.1:9/x", b"{}", headers={}, timeout_s=2, deadline_s=5, allow_private=True
        )
    assert not raised.value.permanent


def test_match_query_has_no_ranking_and_keeps_filters() -> None:
    request = SearchRequest(
        query="harbour OR port", filters={"source": ("Wire",)}, sort="relevance"
    )
    query, knn_filter = build_match_query(request)
    assert "function_score" not in json.dumps(query)
    assert query["bool"]["must"][0]["simple_query_string"]["query"] == "harbour | port"
    assert knn_filter == [{"terms": {"source": ["Wire"]}}]
    assert query["bool"]["filter"] == knn_filter


def _saved(mode: str, **changes: Any) -> store.SavedSearch:
    fields: dict[str, Any] = {
        "id": "abc",
        "name": "Harbour",
        "params": {},
        "query": {"match": {"body": "harbour"}},
        "knn_filter": [{"terms": {"source": ["Wire"]}}],
        "mode": mode,
        "similarity": 0.4,
        "created_at": "2025-01-01T00:00:00Z",
        "owner": "ed",
        "urls": {"atom": "http://x/saved/abc/feed.atom", "page": "http://x/saved/abc"},
    }
    return store.SavedSearch(**(fields | changes))


def test_match_bodies_by_mode() -> None:
    ids = ["a", "b"]
    only = {"ids": {"values": ids}}
    keyword = match_body(_saved("keyword"), None, ids)
    assert keyword["query"] == {
        "bool": {"must": [{"match": {"body": "harbour"}}], "filter": [only]}
    }
    assert "knn" not in keyword
    assert keyword["size"] == 2

    semantic = match_body(_saved("semantic"), [0.1, 0.2], ids)
    assert "query" not in semantic
    assert semantic["knn"]["filter"] == [{"terms": {"source": ["Wire"]}}, only]
    assert semantic["knn"]["similarity"] == 0.4
    assert semantic["knn"]["k"] == semantic["knn"]["num_candidates"] == 2

    hybrid = match_body(_saved("hybrid"), [0.1, 0.2], ids)
    assert "query" in hybrid
    assert "knn" in hybrid
    assert "timeout" not in hybrid
    assert match_body(_saved("keyword"), None, ids, 2.5)["timeout"] == "2500ms"


def test_webhook_payload_and_signature() -> None:
    article = {"id": "a1", "title": "T", "url": "https://e/1", "published_at": "2025-01-01"}
    payload = webhook_payload(Alert(_saved("keyword"), [article | {"summary": "s"}]))
    assert payload["saved_search"] == {
        "id": "abc",
        "name": "Harbour",
        "feed_url": "http://x/saved/abc/feed.atom",
        "json_feed_url": None,
        "page_url": "http://x/saved/abc",
    }
    assert payload["articles"] == [article | {"source": None}]
    expected = hmac.new(b"secret", b"body", hashlib.sha256).hexdigest()
    assert sign("secret", b"body") == f"sha256={expected}"


def test_read_input_from_json_and_forms() -> None:
    entry = read_input(
        {"name": "N", "q": "port", "filters": {"source": ["A", "B"]}, "language": "en"},
        MultiDict(),
        is_json=True,
    )
    assert entry.name == "N"
    assert entry.search_args.getlist("source") == ["A", "B"]
    assert entry.search_args.getlist("language") == ["en"]
    form = read_input(
        None,
        MultiDict([("q", "port"), ("page", "3"), ("source", "A"), ("webhook_url", "")]),
        is_json=False,
    )
    assert form.webhook_url is None
    assert "page" not in form.search_args
    bads: list[Any] = [[], {"q": 3}, {"filters": {"nope": ["x"]}}, {"filters": []}, {"qq": "x"}]
    for bad in bads:
        with pytest.raises(ApiError):
            read_input(bad, MultiDict(), is_json=True)


def test_owners_admins_and_origins() -> None:
    private, shared, ownerless = (
        _saved("keyword"),
        _saved("keyword", shared=True),
        _saved("keyword", owner=None),
    )
    owner, other = Viewer("ed", "editor"), Viewer("al", "editor")
    admin, reader, anonymous = Viewer("ad", "admin"), Viewer("ro", "reader"), Viewer()
    assert may_see(private, owner)
    assert may_change(private, owner)
    assert may_see(private, admin)
    assert may_change(private, admin)
    for viewer in (other, reader, anonymous):
        assert not may_see(private, viewer)
        assert not may_change(private, viewer)
        assert may_see(shared, viewer)
        assert not may_change(shared, viewer)
    # Saved before accounts: admins only.
    assert may_see(ownerless, admin)
    assert may_change(ownerless, admin)
    assert not may_see(ownerless, owner)
    assert not may_change(ownerless, owner)
    assert same_origin(Headers(), "news.example")
    assert same_origin(Headers({"Origin": "https://news.example"}), "news.example")
    assert not same_origin(Headers({"Origin": "https://evil.example"}), "news.example")
    assert not same_origin(Headers({"Sec-Fetch-Site": "cross-site"}), "news.example")
    assert same_origin(Headers({"Sec-Fetch-Site": "same-origin"}), "news.example")


# --- the store, on the real Redis -------------------------------------------------------------


@pytest.mark.usefixtures("services")
def test_matches_are_recorded_once_capped_and_rate_limited(settings: Settings) -> None:
    redis_client = get_redis(settings)
    prefix = settings.index_prefix
    search = _saved("keyword", id=store.new_id())
    assert store.create(redis_client, prefix, search, None, max_saved=10_000) == "created"
    try:
        articles = [store.match_record({"title": f"t{n}"}, f"a{n}") for n in range(5)]
        added = store.record_matches(
            redis_client, prefix, search.id, articles[:3], keep=4, max_per_hour=100
        )
        assert added == ["a0", "a1", "a2"]
        # A replayed batch announces nothing twice.
        assert (
            store.record_matches(
                redis_client, prefix, search.id, articles[:3], keep=4, max_per_hour=100
            )
            == []
        )
        added = store.record_matches(
            redis_client, prefix, search.id, articles[3:], keep=4, max_per_hour=100
        )
        assert added == ["a3", "a4"]
        recent = store.recent_matches(redis_client, prefix, search.id, 10)
        # Newest first, the oldest dropped past ``keep``, its details with it.
        assert [m["id"] for m in recent] == ["a4", "a3", "a2", "a1"]
        assert recent[0]["title"] == "t4"
        assert recent[0]["matched_at"].endswith("Z")
        articles_key = f"{prefix}:saved:{search.id}:articles"
        assert sorted(redis_client.hkeys(articles_key)) == ["a1", "a2", "a3", "a4"]
        # The hourly limit: 5 recorded this hour, so only one more passes a limit of 6.
        more = [store.match_record({}, f"b{n}") for n in range(3)]
        assert store.record_matches(
            redis_client, prefix, search.id, more, keep=100, max_per_hour=6
        ) == ["b0"]
    finally:
        assert store.delete(redis_client, prefix, search.id)
    # Deleted: nothing more is recorded, nothing is left behind.
    late = [store.match_record({}, "c0")]
    assert store.record_matches(redis_client, prefix, search.id, late, keep=4, max_per_hour=9) == []
    assert not redis_client.exists(f"{prefix}:saved:{search.id}:matches")


def test_a_disabled_users_saved_searches_send_nothing(settings: Settings) -> None:
    """A user who left (``newsroom users disable``) gets no more alerts or webhooks: their
    saved searches are left out before any query. Elasticsearch here is a closed port, so a
    search that were not left out would raise instead of returning no alert."""
    redis_client = get_redis(settings)
    prefix = settings.index_prefix
    leaver = f"leaver-{_word()}"
    accounts.add_user(redis_client, settings, leaver, "editor")
    accounts.disable_user(redis_client, settings, leaver)
    search = _saved("keyword", id=store.new_id(), owner=leaver)
    assert store.create(redis_client, prefix, search, None, max_saved=10_000) == "created"
    try:
        unreachable = Elasticsearch("http://127.0.0.1:1", request_timeout=1, max_retries=0)
        alerts = evaluate_batch(
            ["0" * 32], es=unreachable, redis_client=redis_client, settings=settings
        )
        assert alerts == []
    finally:
        assert store.delete(redis_client, prefix, search.id)
    assert owner_active(search, {leaver}) is False
    assert owner_active(search, set()) is True
    assert owner_active(_saved("keyword", owner=None), {leaver}) is True  # saved before accounts


# --- the API, the worker and the webhook, on the real stack -----------------------------------


def _create(client: FlaskClient, **body: Any) -> dict[str, Any]:
    response = client.post("/api/saved-searches", json=body)
    assert response.status_code == 201, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    created: dict[str, Any] = response.get_json()
    assert response.headers["Location"] == created["urls"]["api"]
    return created


def _post(client: FlaskClient, articles: list[dict[str, Any]]) -> list[str]:
    response = client.post("/articles", json=articles)
    assert response.status_code == 202, response.get_json()
    return [article["id"] for article in response.get_json()["articles"]]


def _detail(client: FlaskClient, saved_id: str) -> dict[str, Any]:
    response = client.get(f"/api/saved-searches/{saved_id}")
    assert response.status_code == 200, response.get_json()
    found: dict[str, Any] = response.get_json()
    return found


def _matched_ids(client: FlaskClient, saved_id: str) -> set[str]:
    return {match["id"] for match in _detail(client, saved_id)["matches"]}


def _delete(client: FlaskClient, created: dict[str, Any]) -> None:
    """Deleted by its owner (the client that created it)."""
    response = client.delete(f"/api/saved-searches/{created['id']}")
    assert response.status_code == 204


@pytest.mark.stack
@pytest.mark.usefixtures("worker")
def test_new_articles_alert_feeds_and_webhook(
    ingest_client: FlaskClient,
    web_client: FlaskClient,
    editor_login: Login,
    wait_indexed: WaitIndexed,
    receiver: Receiver,
) -> None:
    word = _word()
    created = _create(
        web_client,
        name="Harbour watch",
        q=word,
        mode="keyword",
        filters={"source": ["Alert Wire"]},
        webhook_url=receiver.url,
    )
    assert created["owner"] == editor_login.name
    assert created["shared"] is False  # private unless shared on purpose
    assert created["webhook"] == {"host": receiver.url.split("/")[2]}
    listed = web_client.get("/api/saved-searches").get_json()["saved_searches"]
    mine = next(item for item in listed if item["id"] == created["id"])
    assert mine["owner"] == editor_login.name
    assert "webhook_secret" not in json.dumps(listed)
    assert receiver.url not in json.dumps(listed)

    ids = _post(
        ingest_client,
        [
            {
                "title": f"The {word} harbour reopens",
                # Long enough to be summarised (a story under 3 sentences or 60 words is not).
                "body": (
                    f"The {word} harbour reopened on Monday after repairs, the port said. "
                    "Work on the old stone quay took eleven months and cost more than planned, "
                    "according to the harbour board. Fishing boats returned to their moorings "
                    "within hours, and the ferry to the islands will run again from Friday. "
                    "The board said the new lights and fenders should last for thirty years. "
                    "Local traders, who lost much of the summer season, welcomed the news."
                ),
                "source": "Alert Wire",
                "url": "https://alerts.example/match",
                "published_at": "2025-10-02T08:00:00Z",
            },
            {  # the word, but another source: the filter leaves it out
                "title": f"The {word} harbour, elsewhere",
                "body": f"Another paper wrote about the {word} harbour on Monday as well.",
                "source": "Other Paper",
                "published_at": "2025-10-02T09:00:00Z",
            },
            {  # the source, but not the word
                "title": "Council votes on budget",
                "body": "The council voted on the budget on Monday after a long debate.",
                "source": "Alert Wire",
                "published_at": "2025-10-02T10:00:00Z",
            },
        ],
    )
    wait_indexed(ids)
    matching = ids[0]
    # Evaluated by a task of its own after indexing: wait for it.
    wait_until(lambda: _matched_ids(web_client, created["id"]))
    # The three were one batch, evaluated together: the others were checked and left out.
    assert _matched_ids(web_client, created["id"]) == {matching}
    detail = _detail(web_client, created["id"])
    assert detail["matches"][0]["title"] == f"The {word} harbour reopens"
    assert detail["matches"][0]["summary"]

    atom = ET.fromstring(web_client.get(f"/saved/{created['id']}/feed.atom").data)
    entries = atom.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == [f"The {word} harbour reopens"]
    assert entries[0].findtext(f"{ATOM}id", "").endswith(f"/articles/{matching}")
    feed = web_client.get(f"/saved/{created['id']}/feed.json")
    assert feed.mimetype == "application/feed+json"
    items = feed.get_json()["items"]
    assert [item["id"].rsplit("/", 1)[-1] for item in items] == [matching]
    assert items[0]["external_url"] == "https://alerts.example/match"

    wait_until(lambda: receiver.posts)
    post = receiver.posts[0]
    body = json.loads(post["raw"])
    assert body["saved_search"]["id"] == created["id"]
    assert body["saved_search"]["name"] == "Harbour watch"
    assert body["saved_search"]["feed_url"] == created["urls"]["atom"]
    assert [article["id"] for article in body["articles"]] == [matching]
    assert body["articles"][0]["url"] == "https://alerts.example/match"
    assert post["path"] == "/hook?x=1"
    assert post["headers"]["X-Newsroom-Signature"] == sign(created["webhook_secret"], post["raw"])
    assert post["headers"]["X-Newsroom-Delivery"]
    wait_until(lambda: _detail(web_client, created["id"])["webhook"]["last_delivery"])
    delivery = _detail(web_client, created["id"])["webhook"]["last_delivery"]
    assert delivery["state"] == "delivered", delivery
    assert len(receiver.posts) == 1
    _delete(web_client, created)


@pytest.mark.stack
@pytest.mark.usefixtures("worker")
def test_a_failing_webhook_is_retried_with_the_same_delivery_id(
    ingest_client: FlaskClient,
    web_client: FlaskClient,
    wait_indexed: WaitIndexed,
    failing_receiver: Receiver,
) -> None:
    word = _word()
    created = _create(web_client, q=word, mode="keyword", webhook_url=failing_receiver.url)
    assert created["name"] == word  # named after its words when not named
    ids = _post(ingest_client, [{"title": word, "body": f"A short {word} story."}])
    wait_indexed(ids)
    wait_until(lambda: len(failing_receiver.posts) >= 2, timeout_s=90)
    first, second = failing_receiver.posts[:2]
    assert first["headers"]["X-Newsroom-Delivery"] == second["headers"]["X-Newsroom-Delivery"]
    assert first["raw"] == second["raw"]
    assert [a["id"] for a in failing_receiver.bodies()[1]["articles"]] == ids
    wait_until(
        lambda: (
            (_detail(web_client, created["id"])["webhook"]["last_delivery"] or {}).get("state")
            == "delivered"
        )
    )
    _delete(web_client, created)


@pytest.mark.stack
@pytest.mark.usefixtures("worker")
def test_semantic_alerts_match_by_meaning(
    ingest_client: FlaskClient, web_client: FlaskClient, wait_indexed: WaitIndexed
) -> None:
    word = _word()
    # The word keeps the match to these articles; in semantic mode it only narrows by source.
    created = _create(web_client, q="volcano eruption", mode="semantic", source=[word])
    assert created["mode"] == "semantic"
    ids = _post(
        ingest_client,
        [
            {
                "title": "Lava on the mountain",
                "body": "Lava poured down the slopes of the mountain after it blew overnight, "
                "forcing villagers to flee the ash cloud and the rumbling crater.",
                "source": word,
            },
            {
                "title": "Rates held",
                "body": "The central bank left interest rates unchanged on Tuesday, citing "
                "steady inflation and a strong labour market.",
                "source": word,
            },
        ],
    )
    wait_indexed(ids)
    wait_until(lambda: _matched_ids(web_client, created["id"]))
    assert _matched_ids(web_client, created["id"]) == {ids[0]}
    _delete(web_client, created)


@pytest.mark.usefixtures("services")
def test_only_its_owner_or_an_admin_changes_or_deletes_it(
    web_app: Flask, web_client: FlaskClient, admin_client: FlaskClient
) -> None:
    created = _create(web_client, q=_word(), mode="keyword")
    url = f"/api/saved-searches/{created['id']}"
    other, reader = signed_in_client(web_app, "editor"), signed_in_client(web_app, "reader")
    anonymous = web_app.test_client()
    # Private: nobody else sees it, so nobody else finds it to delete or change.
    for client in (other, reader, anonymous):
        assert client.get(url).status_code == 404
        assert client.get(f"/saved/{created['id']}/feed.atom").status_code == 404
        assert created["id"] not in json.dumps(client.get("/api/saved-searches").get_json())
    assert other.delete(url).status_code == 404
    assert other.patch(url, json={"shared": True}).status_code == 404
    # Shared on purpose by its owner: everyone reads it; only the owner and admins change it.
    shared = web_client.patch(url, json={"shared": True, "name": "Shared now"})
    assert shared.status_code == 200, shared.get_json()
    assert shared.get_json()["shared"] is True
    assert shared.get_json()["name"] == "Shared now"
    for client in (other, reader, anonymous):
        assert client.get(url).get_json()["name"] == "Shared now"
    refused = {
        other: 403,  # an editor, not its owner
        reader: 403,  # not an editor
        anonymous: 401,  # nobody
    }
    for client, status in refused.items():
        for response in (client.delete(url), client.patch(url, json={"shared": False})):
            assert response.status_code == status
            assert response.mimetype == "application/problem+json"
    bad_token = anonymous.delete(url, headers={"Authorization": "Bearer nr_0_wrong"})
    assert bad_token.status_code == 401
    assert bad_token.headers["WWW-Authenticate"].startswith("Bearer")
    assert web_client.get(url).status_code == 200
    assert web_client.delete(url).status_code == 204
    assert web_client.get(url).status_code == 404
    assert web_client.delete(url).status_code == 404
    assert web_client.get(f"/saved/{created['id']}/feed.atom").status_code == 404
    # An admin sees and deletes anyone's, private ones too.
    another = _create(web_client, q=_word(), mode="keyword")
    admin_url = f"/api/saved-searches/{another['id']}"
    assert admin_client.get(admin_url).status_code == 200
    assert admin_client.delete(admin_url).status_code == 204
    assert web_client.get(admin_url).status_code == 404


@pytest.mark.usefixtures("services")
@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ({"q": "port", "webhook_url": "ftp://example.org/x"}, "webhook_url"),
        ({"q": "port", "webhook_url": "https://example.org/" + "x" * 2000}, "webhook_url"),
        ({"q": "port", "name": "n" * (MAX_NAME_CHARS + 1)}, "name"),
        ({}, "q"),
        ({"from": "2025-01-01"}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 1001}, "q"),
        ({"q": "port", "mode": "psychic"}, "mode"),
        ({"q": "port", "from": "yesterday"}, "from"),
        ({"q": "port", "filters": {"colour": ["red"]}}, "filters"),
        ({"q": "port", "source": [1, 2]}, "source"),
        ({"q": "port", "extra": True}, "extra"),
    ],
)
def test_bad_input_is_a_400(web_client: FlaskClient, body: dict[str, Any], parameter: str) -> None:
    response = web_client.post("/api/saved-searches", json=body)
    assert response.status_code == 400, response.get_json()
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["parameter"] == parameter


@pytest.mark.usefixtures("services")
def test_bodies_that_are_not_objects_and_query_parameters(web_client: FlaskClient) -> None:
    for data in ("[1, 2]", "{not json"):
        response = web_client.post(
            "/api/saved-searches", data=data, content_type="application/json"
        )
        assert response.status_code == 400
        assert response.mimetype == "application/problem+json"
    # /api/search's query parameters work as well.
    response = web_client.post(
        "/api/saved-searches",
        query_string={"q": "harbour", "mode": "keyword", "source": ["A", "B"], "name": "By URL"},
    )
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["name"] == "By URL"
    assert created["params"]["filters"] == {"source": ["A", "B"]}
    _delete(web_client, created)


@pytest.mark.usefixtures("services")
def test_the_number_of_saved_searches_is_capped(
    web_app: Flask, settings: Settings, web_client: FlaskClient, editor_login: Login
) -> None:
    listed = web_client.get("/api/saved-searches").get_json()["saved_searches"]
    present = len([item for item in listed if item["owner"] == editor_login.name])
    import web

    capped_app = web.create_app(
        {
            "TESTING": True,
            "NEWSROOM_SETTINGS": settings.model_copy(
                update={"saved_searches_per_user": present + 1}
            ),
        }
    )
    capped = editor_login.apply(capped_app.test_client())
    created = _create(capped, q=_word(), mode="keyword")
    response = capped.post("/api/saved-searches", json={"q": _word(), "mode": "keyword"})
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    assert "each user" in response.get_json()["detail"]
    # The quota is each user's own: one user filling theirs leaves the others theirs.
    other = signed_in_client(capped_app, "editor")
    theirs = _create(other, q=_word(), mode="keyword")
    # The service's own limit still holds over all users.
    stored = len(store.list_all(get_redis(settings), settings.index_prefix))
    full_app = web.create_app(
        {
            "TESTING": True,
            "NEWSROOM_SETTINGS": settings.model_copy(update={"alerts_max_saved": stored}),
        }
    )
    full = signed_in_client(full_app, "editor")
    response = full.post("/api/saved-searches", json={"q": _word(), "mode": "keyword"})
    assert response.status_code == 409
    assert "this service keeps" in response.get_json()["detail"]
    _delete(capped, created)
    _delete(other, theirs)


@pytest.mark.usefixtures("services")
def test_the_pages(web_app: Flask, web_client: FlaskClient) -> None:
    word = _word()
    page = web_client.get("/", query_string={"q": word, "mode": "keyword", "source": "S"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'action="/saved"' in html
    assert f'name="q" value="{word}"' in html
    assert 'name="source" value="S"' in html
    # Saving is an editor's: anonymous readers get no form.
    anonymous = web_app.test_client().get("/", query_string={"q": word})
    assert 'action="/saved"' not in anonymous.get_data(as_text=True)

    form = {
        "q": word,
        "mode": "keyword",
        "source": "S",
        "name": "From the page",
        "webhook_url": "https://hooks.example.org/pages",
        "shared": "1",
    }
    foreign = web_client.post("/saved", data=form, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    fetched = web_client.post("/saved", data=form, headers={"Sec-Fetch-Site": "cross-site"})
    assert fetched.status_code == 403
    listed = web_client.get("/api/saved-searches").get_json()["saved_searches"]
    assert not [item for item in listed if item["params"]["q"] == word]

    created = web_client.post("/saved", data=form, headers={"Origin": "http://localhost"})
    assert created.status_code == 201
    assert created.headers["Cache-Control"] == "no-store"
    html = created.get_data(as_text=True)
    assert "shown only now" in html
    saved = next(
        item
        for item in web_client.get("/api/saved-searches").get_json()["saved_searches"]
        if item["name"] == "From the page" and item["params"]["q"] == word
    )
    assert saved["shared"] is True
    token = html.split('<code class="token">', 1)[1].split("</code>", 1)[0]
    assert _stored(saved["id"]).webhook_secret == token

    listing = web_client.get("/saved").get_data(as_text=True)
    assert "From the page" in listing
    assert f"/saved/{saved['id']}" in listing
    again = web_client.get(f"/saved/{saved['id']}").get_data(as_text=True)
    assert token not in again  # shown once
    assert f"/saved/{saved['id']}/feed.atom" in again
    assert "No new article has matched yet" in again

    # Shared, so others see it; not theirs to delete (an editor is shown the page again).
    wrong = signed_in_client(web_app, "editor").post(f"/saved/{saved['id']}/delete")
    assert wrong.status_code == 403
    assert "From the page" in wrong.get_data(as_text=True)
    reader = signed_in_client(web_app, "reader").post(f"/saved/{saved['id']}/delete")
    assert reader.status_code == 403
    deleted = web_client.post(f"/saved/{saved['id']}/delete")
    assert deleted.status_code == 303
    assert deleted.headers["Location"].endswith("/saved")
    assert web_client.get(f"/saved/{saved['id']}").status_code == 404
    bad = web_client.post("/saved", data={"q": "", "name": "nothing"})
    assert bad.status_code == 400
    assert "needs words" in bad.get_data(as_text=True)


def _stored(saved_id: str) -> store.SavedSearch:
    from shared.settings import get_settings

    settings = get_settings()
    found = store.get(get_redis(settings), settings.index_prefix, saved_id)
    assert found is not None
    return found
