"""Spike alerts (issue 17, item 4: "tell me when this spikes"): a saved search with spike alerts
tells its webhook when its matches jump in the recent window against its baseline, through the
real worker, to a real receiver on 127.0.0.1; a steady trickle sends nothing."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from shared import rising
from shared import saved_searches as store
from shared.clients import get_redis
from shared.settings import Settings
from tests import test_alerts
from tests.conftest import wait_until
from tests.test_alerts import Receiver, WaitIndexed, _word
from web.saved import read_input
from worker.alerts import SPIKE_EVENT, Alert, Spike, spike_body, spike_payload
from worker.mail import compose
from worker.webhooks import sign

# A real webhook receiver on 127.0.0.1 per test (test_alerts' fixture).
receiver = test_alerts.receiver


def _search(**changes: Any) -> store.SavedSearch:
    fields: dict[str, Any] = {
        "id": "abc",
        "name": "Harbour",
        "params": {},
        "query": {"match": {"body": "harbour"}},
        "knn_filter": [],
        "mode": "keyword",
        "similarity": None,
        "created_at": "2026-01-01T00:00:00Z",
        "urls": {"page": "http://x/saved/abc", "atom": "http://x/a", "json": "http://x/j"},
        "spike_alerts": True,
    }
    return store.SavedSearch(**(fields | changes))


# --- pure ------------------------------------------------------------------------------------


def test_spike_body_counts_both_windows_in_one_unscored_request() -> None:
    span = rising.windows(datetime(2026, 3, 10, 8, 0, 30, tzinfo=UTC), 24, 14)
    body = spike_body(_search(), span)
    assert body["size"] == 0
    query, window = body["query"]["bool"]["filter"]
    assert query == {"match": {"body": "harbour"}}
    assert window == {"range": {"seen_at": {"gte": "2026-02-23T08:01:00Z", "lt": "2026-03-10T08:01:00Z"}}}  # fmt: skip
    assert body["aggs"]["recent"]["filter"]["range"]["seen_at"]["gte"] == "2026-03-09T08:01:00Z"
    assert body["aggs"]["baseline"]["filter"]["range"]["seen_at"]["lt"] == "2026-03-09T08:01:00Z"


def test_spike_payload() -> None:
    span = rising.windows(datetime(2026, 3, 10, 8, 0, tzinfo=UTC), 24, 14)
    article = {"id": "a1", "title": "T", "url": None, "published_at": None, "source": "S"}
    score = rising.score(9, 2, window_ratio=span.ratio)
    payload = spike_payload(Spike(Alert(_search(), [article]), score, span))
    assert payload["event"] == SPIKE_EVENT
    assert payload["saved_search"]["id"] == "abc"
    assert payload["spike"]["recent"] == 9
    assert payload["spike"]["baseline"] == 2
    assert payload["spike"]["rising"] is True
    assert payload["spike"]["recent_window"]["to"] == "2026-03-10T08:01:00Z"
    assert [a["id"] for a in payload["articles"]] == ["a1"]


def test_a_spike_email() -> None:
    span = rising.windows(datetime(2026, 3, 10, 8, 0, tzinfo=UTC), 24, 14)
    article = {"id": "a1", "title": "Quay <b>", "url": None, "published_at": None, "source": "S"}
    score = rising.score(9, 2, window_ratio=span.ratio)
    payload = spike_payload(Spike(Alert(_search(name="Harbour"), [article]), score, span))
    message = compose(payload, recipient="ed@example.org", sender="n@news.example", delivery_id="d")
    assert message["Subject"] == "Newsroom alert: Harbour is spiking (9 in 24 h)"
    plain = message.get_body(("plain",))
    rich = message.get_body(("html",))
    assert plain is not None
    assert rich is not None
    assert 'saved search "Harbour" spiked: 9 in the last 24 hours against 0.2 expected' in (
        plain.get_content()
    )
    assert "Quay &lt;b&gt;" in rich.get_content()


def test_read_input_spike_alerts() -> None:
    assert read_input({"q": "x", "spike_alerts": True}, MultiDict(), is_json=True).spike_alerts
    assert not read_input({"q": "x"}, MultiDict(), is_json=True).spike_alerts
    form = MultiDict([("q", "x"), ("spike_alerts", "on")])
    assert read_input(None, form, is_json=False).spike_alerts


@pytest.mark.usefixtures("services")
def test_the_cool_down_claims_once(settings: Settings) -> None:
    redis_client = get_redis(settings)
    prefix = f"{settings.index_prefix}-spikes"
    assert store.claim_spike(redis_client, prefix, "s1", 60)
    assert not store.claim_spike(redis_client, prefix, "s1", 60)
    assert store.claim_spike(redis_client, prefix, "s2", 60)
    assert store.claim_spike(redis_client, prefix, "s1", 0)  # no cool-down
    redis_client.delete(f"{prefix}:saved:s1:spike:cooldown", f"{prefix}:saved:s2:spike:cooldown")


@pytest.mark.usefixtures("services")
def test_the_api_sets_and_changes_it(web_client: FlaskClient, receiver: Receiver) -> None:
    created = web_client.post(
        "/api/saved-searches",
        json={"q": _word(), "spike_alerts": True, "webhook_url": receiver.url},
    ).get_json()
    assert created["spike_alerts"] is True
    detail = web_client.get(f"/api/saved-searches/{created['id']}").get_json()
    assert detail["spike_alerts"] is True
    assert detail["last_spike"] is None
    changed = web_client.patch(f"/api/saved-searches/{created['id']}", json={"spike_alerts": False})
    assert changed.status_code == 200
    assert changed.get_json()["spike_alerts"] is False
    bad = web_client.patch(f"/api/saved-searches/{created['id']}", json={"spike_alerts": "yes"})
    assert bad.status_code == 400
    assert bad.get_json()["parameter"] == "spike_alerts"
    page = web_client.get(f"/saved/{created['id']}").get_data(as_text=True)
    assert 'name="spike_alerts"' in page
    assert web_client.delete(f"/api/saved-searches/{created['id']}").status_code == 204


# --- the real worker and a real receiver -------------------------------------------------------


def _article(word: str, published: datetime, n: int) -> dict[str, Any]:
    return {
        "title": f"The {word} harbour, report {n}",
        "body": f"Report {n} on the {word} harbour: the quay was inspected again on this day.",
        "source": "Spike Wire",
        "published_at": published.isoformat(timespec="seconds").replace("+00:00", "Z"),
    }


def _post(client: FlaskClient, articles: list[dict[str, Any]]) -> list[str]:
    response = client.post("/articles", json=articles)
    assert response.status_code == 202, response.get_json()
    return [article["id"] for article in response.get_json()["articles"]]


def _matches(client: FlaskClient, saved_id: str) -> int:
    found = client.get(f"/api/saved-searches/{saved_id}").get_json()
    return len(found["matches"])


@pytest.mark.stack
@pytest.mark.usefixtures("worker")
def test_a_jump_reaches_the_webhook_and_a_trickle_does_not(
    ingest_client: FlaskClient,
    web_client: FlaskClient,
    wait_indexed: WaitIndexed,
    receiver: Receiver,
) -> None:
    jump, steady = _word(), _word()
    hook = receiver.url
    created = {
        word: web_client.post(
            "/api/saved-searches",
            json={"q": word, "mode": "keyword", "spike_alerts": True, "webhook_url": hook},
        ).get_json()
        for word in (jump, steady)
    }
    now = datetime.now(UTC)
    # The trickle: one a day for two weeks, then one today (the usual rate).
    trickle = [_article(steady, now - timedelta(days=d, hours=2), d) for d in range(1, 15)]
    ids = _post(ingest_client, trickle)
    ids += _post(ingest_client, [_article(steady, now - timedelta(hours=3), 0)])
    wait_indexed(ids)
    wait_until(lambda: _matches(web_client, created[steady]["id"]) == 15, timeout_s=60)
    # The jump: never before, then six in the last hours.
    burst = _post(
        ingest_client, [_article(jump, now - timedelta(minutes=10 * n + 5), n) for n in range(6)]
    )
    wait_indexed(burst)
    wait_until(lambda: receiver.posts, timeout_s=60)
    post = receiver.posts[0]
    body = json.loads(post["raw"])
    assert body["event"] == SPIKE_EVENT
    assert post["headers"]["X-Newsroom-Event"] == SPIKE_EVENT
    assert post["headers"]["X-Newsroom-Signature"] == sign(
        created[jump]["webhook_secret"], post["raw"]
    )
    assert body["saved_search"]["id"] == created[jump]["id"]
    # Posted together, the six are one batch; were they two, the first three already spike.
    assert 3 <= body["spike"]["recent"] <= 6
    assert body["spike"]["baseline"] == 0
    assert body["spike"]["score"] >= 3
    assert {a["id"] for a in body["articles"]} <= set(burst)
    assert len(body["articles"]) == body["spike"]["recent"]
    detail = web_client.get(f"/api/saved-searches/{created[jump]['id']}").get_json()
    assert detail["last_spike"]["recent"] == str(body["spike"]["recent"])
    # More of the jump within the cool-down: recorded, but no second spike event.
    more = _post(ingest_client, [_article(jump, now - timedelta(minutes=2), 9)])
    wait_indexed(more)
    wait_until(lambda: _matches(web_client, created[jump]["id"]) == 7, timeout_s=60)
    time.sleep(3)  # the deliveries the last evaluations queued, had there been any
    events = [json.loads(p["raw"]) for p in receiver.posts]
    # One spike, of the jump; the trickle's matches sent nothing (spike alerts: spikes only).
    assert [(e["event"], e["saved_search"]["id"]) for e in events] == [
        (SPIKE_EVENT, created[jump]["id"])
    ]
    steady_detail = web_client.get(f"/api/saved-searches/{created[steady]['id']}").get_json()
    assert steady_detail["last_spike"] is None
    for item in created.values():
        assert web_client.delete(f"/api/saved-searches/{item['id']}").status_code == 204
