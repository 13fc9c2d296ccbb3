"""A private saved search's feed at a secret URL of its own (issue 16, item 3): a feed reader
without a session follows /saved/<id>/feed/<key>.atom|json, fetched here by feedparser over
real HTTP from a web app with anonymous reading off; without the key, or with a wrong or
replaced one, nobody gets the feed."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import feedparser
import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

import web
from shared import accounts
from shared import saved_searches as store
from shared.clients import get_redis
from shared.settings import Settings
from tests.conftest import Login, sign_in
from tests.test_alerts import _word

pytestmark = pytest.mark.usefixtures("services")


@dataclass(frozen=True)
class Site:
    app: Flask
    url: str


@pytest.fixture(scope="module")
def site(services: None, settings: Settings) -> Iterator[Site]:
    """The web app with anonymous reading off (compose's default), served on loopback."""
    closed = settings.model_copy(update={"anonymous_reading": False})
    app = web.create_app({"TESTING": True, "NEWSROOM_SETTINGS": closed})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="feed-keys-web", daemon=True)
    thread.start()
    yield Site(app, f"http://127.0.0.1:{server.server_port}")
    server.shutdown()


@dataclass(frozen=True)
class Saved:
    id: str
    owner: str
    client: FlaskClient
    title: str


def _match(settings: Settings, saved_id: str, title: str) -> None:
    """A recorded match, as the worker records one (shared.saved_searches.record_matches)."""
    article = store.match_record(
        {"title": title, "url": "https://paper.example/a", "source": "Alert Wire",
         "published_at": "2025-10-02T08:00:00Z"},
        uuid.uuid4().hex,
    )  # fmt: skip
    store.record_matches(
        get_redis(settings), settings.index_prefix, saved_id, [article], keep=10, max_per_hour=10
    )


@pytest.fixture(scope="module")
def logins(site: Site) -> dict[str, Login]:
    """Logged in once per module (argon2 makes each login cost a second)."""
    return {role: sign_in(site.app, role) for role in ("editor", "reader", "admin")}


def _client(site: Site, logins: dict[str, Login], role: str) -> FlaskClient:
    return logins[role].apply(site.app.test_client())


def _saved(site: Site, settings: Settings, login: Login) -> Saved:
    """A private saved search of ``login``'s editor, with one match."""
    client = login.apply(site.app.test_client())
    created = client.post("/api/saved-searches", json={"q": _word()}).get_json()
    assert created["shared"] is False
    title = f"Private match {uuid.uuid4().hex[:6]}"
    _match(settings, created["id"], title)
    return Saved(created["id"], login.name, client, title)


@pytest.fixture
def saved(site: Site, settings: Settings, logins: dict[str, Login]) -> Iterator[Saved]:
    made = _saved(site, settings, logins["editor"])
    yield made
    made.client.delete(f"/api/saved-searches/{made.id}")


def _private_feed(saved: Saved) -> dict[str, str]:
    answer = saved.client.get(f"/api/saved-searches/{saved.id}")
    assert answer.headers["Cache-Control"] == "no-store"  # it carries the key
    detail = answer.get_json()
    urls: dict[str, str] = detail["private_feed"]
    return urls


def _parse(url: str) -> Any:
    return feedparser.parse(url, agent="feed-keys-test")


def test_a_feed_reader_without_a_session_follows_the_private_url(site: Site, saved: Saved) -> None:
    urls = _private_feed(saved)
    assert set(urls) == {"atom", "json"}
    assert re.fullmatch(rf"http://localhost/saved/{saved.id}/feed/[A-Za-z0-9_-]{{43}}\.atom",
                        urls["atom"])  # fmt: skip
    atom = urls["atom"].replace("http://localhost", site.url)
    parsed = _parse(atom)
    assert parsed.status == 200, parsed
    assert not parsed.bozo, parsed.bozo_exception
    assert [entry.title for entry in parsed.entries] == [saved.title]
    assert parsed.entries[0].link.startswith(f"{site.url}/articles/")
    raw = requests.get(atom, timeout=10)
    assert raw.headers["Cache-Control"] == "private, no-store"
    assert raw.headers["Referrer-Policy"] == "no-referrer"
    as_json = requests.get(urls["json"].replace("http://localhost", site.url), timeout=10)
    assert as_json.status_code == 200
    assert [item["title"] for item in as_json.json()["items"]] == [saved.title]


def test_without_the_key_or_with_a_wrong_one_no_feed(
    site: Site, saved: Saved, logins: dict[str, Login], settings: Settings
) -> None:
    key = _private_feed(saved)["atom"].rsplit("/", 1)[1].removesuffix(".atom")
    other = _saved(site, settings, logins["editor"])
    other_key = _private_feed(other)["atom"].rsplit("/", 1)[1].removesuffix(".atom")
    # Each search's key opens its own feed only, in either direction.
    for search, wrong_key in ((other, key), (saved, other_key)):
        answer = requests.get(f"{site.url}/saved/{search.id}/feed/{wrong_key}.atom", timeout=10)
        assert answer.status_code == 404
        assert search.title not in answer.text
    assert _parse(f"{site.url}/saved/{other.id}/feed/{other_key}.atom").status == 200
    other.client.delete(f"/api/saved-searches/{other.id}")
    # No session, no key: anonymous reading is off.
    assert _parse(f"{site.url}/saved/{saved.id}/feed.atom").status == 401
    for path in (
        f"/saved/{saved.id}/feed/{'A' * 43}.atom",  # a wrong key
        f"/saved/{saved.id}/feed/{key[:-1]}.atom",  # nearly the key
        f"/saved/{'x' * 16}/feed/{key}.atom",  # a search that does not exist
        f"/saved/{saved.id}/feed/{key}.json".replace(key, key.upper()),
    ):
        answer = requests.get(site.url + path, timeout=10)
        assert answer.status_code == 404, path
        assert saved.title not in answer.text
    # No key at all matches no route: refused before any view (no session).
    assert requests.get(f"{site.url}/saved/{saved.id}/feed/.atom", timeout=10).status_code == 401
    # A reader logged in sees neither the private search nor its key.
    reader = _client(site, logins, "reader")
    assert reader.get(f"/saved/{saved.id}/feed.atom").status_code == 404
    assert reader.get(f"/api/saved-searches/{saved.id}").status_code == 404
    assert reader.post(f"/api/saved-searches/{saved.id}/feed-key").status_code == 403
    # Listing never shows the key, even to the owner.
    listed = saved.client.get("/api/saved-searches").get_json()
    assert key not in str(listed)


def test_a_shared_search_shows_its_key_only_to_who_may_change_it(
    site: Site, saved: Saved, logins: dict[str, Login]
) -> None:
    saved.client.patch(f"/api/saved-searches/{saved.id}", json={"shared": True})
    key = _private_feed(saved)["atom"].rsplit("/", 1)[1].removesuffix(".atom")
    reader = _client(site, logins, "reader")
    detail = reader.get(f"/api/saved-searches/{saved.id}").get_json()
    assert "private_feed" not in detail
    assert key not in reader.get(f"/saved/{saved.id}").get_data(as_text=True)
    other_editor = sign_in(site.app, "editor").apply(site.app.test_client())
    assert other_editor.post(f"/api/saved-searches/{saved.id}/feed-key").status_code == 403
    admin = _client(site, logins, "admin")
    assert admin.get(f"/api/saved-searches/{saved.id}").get_json()["private_feed"]


def test_replacing_the_key_revokes_the_old_url(site: Site, saved: Saved) -> None:
    old = _private_feed(saved)["atom"].replace("http://localhost", site.url)
    assert _parse(old).status == 200
    answer = saved.client.post(f"/api/saved-searches/{saved.id}/feed-key")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    new = answer.get_json()["private_feed"]["atom"].replace("http://localhost", site.url)
    assert new != old
    assert _parse(old).status == 404
    assert [entry.title for entry in _parse(new).entries] == [saved.title]
    assert _private_feed(saved)["atom"].replace("http://localhost", site.url) == new

    # The page shows it to its owner, and its form makes another (from this site's pages).
    page = saved.client.get(f"/saved/{saved.id}").get_data(as_text=True)
    assert new.replace(site.url, "http://localhost") in page
    form = saved.client.post(f"/saved/{saved.id}/feed-key", data={})
    assert form.status_code == 303
    assert _parse(new).status == 404
    cross_site = saved.client.post(
        f"/saved/{saved.id}/feed-key", headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert cross_site.status_code == 403


def test_a_disabled_owner_or_a_deleted_search_closes_the_url(
    site: Site, settings: Settings
) -> None:
    saved = _saved(site, settings, sign_in(site.app, "editor"))  # disabling ends its sessions
    url = _private_feed(saved)["json"].replace("http://localhost", site.url)
    assert requests.get(url, timeout=10).status_code == 200
    redis_client = get_redis(settings)
    accounts.disable_user(redis_client, settings, saved.owner)
    assert requests.get(url, timeout=10).status_code == 404
    accounts.enable_user(redis_client, settings, saved.owner)
    assert requests.get(url, timeout=10).status_code == 200
    assert store.delete(redis_client, settings.index_prefix, saved.id)
    assert requests.get(url, timeout=10).status_code == 404
    assert store.feed_key(redis_client, settings.index_prefix, saved.id) is None
