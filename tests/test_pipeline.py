"""End to end on the real stack: post to ingest, a real Celery worker enriches and indexes into
Elasticsearch, the web API finds it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from pydantic import SecretStr

from shared.clients import get_elasticsearch, get_redis
from shared.deadletters import get_dead_letters
from shared.settings import Settings, get_settings

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("worker")]

WaitIndexed = Callable[[list[str]], None]


def _ids(response: Any) -> list[str]:
    assert response.status_code == 202, response.get_json()
    return [article["id"] for article in response.get_json()["articles"]]


def _count(settings: Settings) -> int:
    es = get_elasticsearch(settings)
    if not es.indices.exists_alias(name=settings.articles_alias):
        return 0
    es.indices.refresh(index=settings.articles_alias)
    return int(es.count(index=settings.articles_alias)["count"])


def _article(n: int, batch: str) -> dict[str, Any]:
    return {
        "title": f"{batch} story {n}",
        "body": f"Reporters in {batch} filed story number {n} about the harbour and the council vote.",
        "url": f"https://example.org/{batch}/{n}",
        "source": "Example Wire",
        "published_at": "2025-10-01T08:00:00Z",
        "authors": ["Ann Writer"],
    }


def test_sample_article_as_plain_text_is_found_enriched(
    ingest_client: FlaskClient,
    web_client: FlaskClient,
    sample_text: str,
    wait_indexed: WaitIndexed,
    settings: Settings,
) -> None:
    response = ingest_client.post(
        "/articles?source=Trend",
        data=sample_text.encode(),
        content_type="text/plain; charset=utf-8",
    )
    ids = _ids(response)
    assert response.get_json()["articles"][0]["status_url"].endswith(f"/articles/{ids[0]}")
    wait_indexed(ids)

    # Other modules index the sample too (as JSON, under other titles): find this copy.
    found = web_client.get("/api/search?q=Saidzhanov&source=Trend&size=20").get_json()
    (hit,) = [hit for hit in found["hits"] if hit["id"] == ids[0]]
    assert hit["language"] == "en"
    assert hit["published_at"].startswith("2025-09-30")
    assert hit["dateline"]["place"] == "Baku"
    assert hit["dateline"]["country"] == "Azerbaijan"
    assert hit["source"] == "Trend"
    assert "<mark>Saidzhanov</mark>" in hit["snippet"]
    either = web_client.get(
        "/api/search", query_string={"q": "Saidzhanov OR zzyzxnotaword"}
    ).get_json()
    assert either["total"] == 1

    article = web_client.get(f"/api/articles/{ids[0]}").get_json()
    assert article["title"] == "Uzbekistan and Azerbaijan are strengthening their media cooperation"
    assert article["word_count"] > 300
    assert article["enrichment"]["version"]
    # Issue 3's fields, through the real worker and index.
    assert article["people"] == ["Dilshod Saidzhanov"]
    assert "Media Development Agency" in article["organisations"]
    story_places = {place["name"]: place for place in article["places"]}
    for name in ("Tashkent", "Samarkand", "Bukhara"):
        assert story_places[name]["country_code"] == "UZ"
        assert story_places[name]["location"]
    said_by = {quote["speaker"] for quote in article["quotes"]}
    assert said_by == {"Dilshod Saidzhanov"}
    assert len(article["quotes"]) >= 5
    assert article["keywords"]
    assert 2 <= article["summary"].count(". ") + 1 <= 4
    assert {"text": "September 30", "date": "2025-09-30", "resolution": "day"} in article[
        "dates_mentioned"
    ]
    assert article["sentiment"]["label"] in {"positive", "neutral", "negative"}
    # Elasticsearch 9 keeps dense vectors out of _source; the vector is there for kNN.
    from embedding.model import embed_texts

    question = embed_texts(["Uzbek and Azerbaijani media forum cooperation"])[0]
    es = get_elasticsearch(settings)
    nearest = es.search(
        index=settings.articles_alias,
        knn={"field": "embedding", "query_vector": question, "k": 3, "num_candidates": 20},
    )
    assert nearest["hits"]["hits"][0]["_id"] == ids[0]
    assert article["duplicates"]["cluster_id"] == ids[0]
    assert set(article["enrichment"]["models"]) >= {
        "language",
        "nlp",
        "embedding",
        "near_duplicates",
    }


def test_json_array_and_ndjson_batches_are_indexed_once(
    ingest_client: FlaskClient,
    web_client: FlaskClient,
    settings: Settings,
    wait_indexed: WaitIndexed,
) -> None:
    before = _count(settings)
    one = ingest_client.post("/articles", json=_article(0, "single"))
    array = ingest_client.post("/articles", json=[_article(n, "array") for n in range(10)])
    ndjson = "\n".join(json.dumps(_article(n, "ndjson")) for n in range(100)) + "\n"
    lines = ingest_client.post("/articles", data=ndjson, content_type="application/x-ndjson")
    ids = _ids(one) + _ids(array) + _ids(lines)
    assert len(set(ids)) == 111
    wait_indexed(ids)
    assert _count(settings) == before + 111
    assert web_client.get("/api/search?q=harbour council").get_json()["total"] >= 111

    # The same articles again: same ids, no new documents.
    again = _ids(ingest_client.post("/articles", json=[_article(n, "array") for n in range(10)]))
    again += _ids(ingest_client.post("/articles", data=ndjson, content_type="application/x-ndjson"))
    assert set(again) <= set(ids)
    wait_indexed(again)
    assert _count(settings) == before + 111


def test_unknown_fields_are_kept_and_a_corrected_article_replaces_the_old(
    ingest_client: FlaskClient, web_client: FlaskClient, wait_indexed: WaitIndexed
) -> None:
    first = _article(1, "correction") | {"section": "Harbour", "metadata": {"desk": "city"}}
    ids = _ids(ingest_client.post("/articles", json=first))
    wait_indexed(ids)
    article = web_client.get(f"/api/articles/{ids[0]}").get_json()
    assert article["metadata"] == {"desk": "city", "section": "Harbour"}

    corrected = first | {"title": "Corrected headline about the harbour"}
    assert _ids(ingest_client.post("/articles", json=corrected)) == ids
    wait_indexed(ids)
    stored = web_client.get(f"/api/articles/{ids[0]}").get_json()
    assert stored["title"] == corrected["title"]
    assert stored["revision"] == article["revision"] + 1


def test_partial_batches_report_rejected_items(
    ingest_client: FlaskClient, wait_indexed: WaitIndexed
) -> None:
    body = json.dumps(_article(1, "partial")) + "\n" + json.dumps({"title": "no body"}) + "\n"
    response = ingest_client.post("/articles", data=body, content_type="application/x-ndjson")
    assert response.status_code == 202
    payload = response.get_json()
    assert payload["accepted"] == 1
    assert [item["line"] for item in payload["rejected"]] == [2]
    assert payload["rejected"][0]["errors"][0]["field"] == "body"
    assert "required" in payload["rejected"][0]["errors"][0]["message"]
    wait_indexed(_ids(response))


@pytest.mark.parametrize(
    ("data", "content_type", "status", "needle"),
    [
        ('{"title": "x", ', "application/json", 400, "Malformed JSON"),
        ("", "application/json", 400, "Empty body"),
        ("", "text/plain", 400, "Empty body"),
        ("<p>hi</p>", "application/pdf", 415, "Unsupported content type"),
        ('{"body": "a"}\n{"body": \n', "application/x-ndjson", 400, "line 2"),
        ('{"title": "only a title"}', "application/json", 422, "Invalid articles"),
        ('{"body": "x", "url": "ftp://x"}', "application/json", 422, "Invalid articles"),
    ],
)
def test_bad_input_gets_a_clear_json_error(
    ingest_client: FlaskClient, data: str, content_type: str, status: int, needle: str
) -> None:
    response = ingest_client.post("/articles", data=data, content_type=content_type)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert needle in json.dumps(body)


def test_missing_field_names_the_field(ingest_client: FlaskClient) -> None:
    body = ingest_client.post("/articles", json={"title": "only a title"}).get_json()
    assert body["rejected"][0]["errors"][0]["field"] == "body"


def test_status_of_unknown_and_malformed_ids(ingest_client: FlaskClient) -> None:
    assert ingest_client.get("/articles/" + "0" * 32).status_code == 404
    response = ingest_client.get("/articles/not-an-id")
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"


def test_body_size_limit(ingest_app: Any) -> None:
    client = ingest_app.test_client()
    limit = ingest_app.config["MAX_CONTENT_LENGTH"]
    response = client.post("/articles", data=b"x" * (limit + 1), content_type="text/plain")
    assert response.status_code == 413
    assert response.get_json()["status"] == 413


def test_api_key_when_configured(settings: Settings) -> None:
    from ingest import create_app

    keyed = settings.model_copy(update={"ingest_api_key": SecretStr("s3cret")})
    app = create_app({"TESTING": True, "NEWSROOM_SETTINGS": keyed})
    client = app.test_client()
    assert client.post("/articles", json={"body": "x"}).status_code == 401
    assert (
        client.post("/articles", json={"body": "x"}, headers={"X-API-Key": "wrong"}).status_code
        == 401
    )
    ok = client.post(
        "/articles", json={"body": "api key test"}, headers={"Authorization": "Bearer s3cret"}
    )
    assert ok.status_code == 202
    assert client.get("/healthz").status_code == 200


def test_health(ingest_client: FlaskClient, web_client: FlaskClient) -> None:
    for client in (ingest_client, web_client):
        response = client.get("/healthz")
        assert response.status_code == 200
        checks = response.get_json()["checks"]
        assert checks["redis"]["ok"]
        assert checks["elasticsearch"]["ok"]


def test_health_reports_an_unreachable_service(settings: Settings) -> None:
    from web import create_app

    broken = settings.model_copy(
        update={"elasticsearch_url": "http://127.0.0.1:1", "elasticsearch_timeout_s": 1.0}
    )
    response = (
        create_app({"TESTING": True, "NEWSROOM_SETTINGS": broken}).test_client().get("/healthz")
    )
    assert response.status_code == 503
    assert response.get_json()["checks"]["elasticsearch"]["ok"] is False
    assert response.get_json()["checks"]["redis"]["ok"] is True
    search = (
        create_app({"TESTING": True, "NEWSROOM_SETTINGS": broken})
        .test_client()
        .get("/api/search?q=x")
    )
    assert search.status_code == 503


def test_worker_is_a_real_process(worker: subprocess.Popen[bytes]) -> None:
    assert worker.poll() is None


def test_bulk_never_creates_an_index_behind_a_missing_alias(
    services: None, settings: Settings
) -> None:
    from shared.index import bulk_index

    es = get_elasticsearch(settings)
    missing = f"{settings.index_prefix}-no-such-alias"
    doc = {"id": "a" * 32, "body": "x", "received_at": "2025-09-30T10:00:00+00:00"}
    outcome = bulk_index(es, missing, [doc])
    assert outcome.indexed == []
    assert "a" * 32 in outcome.failed
    assert not es.indices.exists(index=missing)


def test_html_page_is_extracted_and_indexed(
    ingest_client: FlaskClient, web_client: FlaskClient, wait_indexed: WaitIndexed
) -> None:
    page = (
        "<html><head><title>Quayside</title><link rel='canonical' href='https://example.org/quay'>"
        "</head><body><nav>Menu Sport Weather</nav><article><h1>Quayside market returns</h1>"
        "<p>The quayside market returned on Saturday with forty stalls selling fish and bread, "
        "organisers said, after two years away.</p></article></body></html>"
    )
    response = ingest_client.post(
        "/articles?source=Quay+News",
        data=page.encode("latin-1"),
        content_type="text/html; charset=latin-1",
    )
    ids = _ids(response)
    wait_indexed(ids)
    article = web_client.get(f"/api/articles/{ids[0]}").get_json()
    assert article["title"] == "Quayside market returns"
    assert article["url"] == "https://example.org/quay"
    assert article["source"] == "Quay News"
    assert "Menu Sport" not in article["body"]
    assert article["keywords"]


def test_html_without_main_text_fails_with_a_reason(ingest_client: FlaskClient) -> None:
    response = ingest_client.post(
        "/articles",
        data=b"<html><head><title>t</title></head><body></body></html>",
        content_type="text/html",
    )
    article_id = _ids(response)[0]

    def failed() -> dict[str, Any] | None:
        state: dict[str, Any] = ingest_client.get(f"/articles/{article_id}").get_json()
        return state if state["state"] == "failed" else None

    from tests.conftest import wait_until

    state = wait_until(failed)
    assert "no main text" in state["error"]
    # Retried, then kept in the dead letters with its payload for a replay.
    settings = get_settings()
    (letter,) = get_dead_letters(get_redis(settings), settings.index_prefix, [article_id])
    assert letter.attempts == settings.article_max_attempts
    assert "no main text" in letter.error
    assert letter.payload["html"].startswith("<html>")


HARBOUR_STORY = """HAMBURG, Germany, October 3. The port of Hamburg reopened its container terminals on Friday after a storm surge had closed them for two days, the port authority said.

Around forty ships had waited in the Elbe estuary while crews checked cranes, quays and the flood barriers that protect the old warehouse district.

"We lost two days of work, but nobody was hurt and the barriers held exactly as designed," harbour master Jens Albrecht told reporters at a briefing in the afternoon.

Shipping companies said the backlog would take most of next week to clear, and that some rail connections to Munich and Prague would run extra trains over the weekend.

The city plans to raise parts of the flood wall by half a metre by 2030, a project that councillors approved in the spring after a long debate about its cost."""


def test_an_edited_copy_from_another_outlet_joins_the_cluster(
    ingest_client: FlaskClient, web_client: FlaskClient, wait_indexed: WaitIndexed
) -> None:
    original = {"body": HARBOUR_STORY, "source": "Outlet A", "url": "https://a.example/harbour"}
    first = _ids(ingest_client.post("/articles", json=original))
    wait_indexed(first)
    paragraphs = HARBOUR_STORY.split("\n\n")
    edited = (
        "\n\n".join(paragraphs[:-1]).replace("Friday", "Friday morning")
        + "\n\nReporting by Outlet B staff."
    )
    copy = _ids(
        ingest_client.post(
            "/articles", json={"body": edited, "source": "Outlet B", "url": "https://b.example/x"}
        )
    )
    exact = _ids(
        ingest_client.post("/articles", json=original | {"url": "https://c.example/reprint"})
    )
    other_story = "Volunteers counted 212 species of moth in the botanical garden overnight, a record for the survey that began in 1994, its organisers said."
    unrelated = _ids(
        ingest_client.post("/articles", json={"body": other_story, "source": "Outlet D"})
    )
    wait_indexed(copy + exact + unrelated)

    def duplicates(article_id: str) -> dict[str, Any]:
        found: dict[str, Any] = web_client.get(f"/api/articles/{article_id}").get_json()[
            "duplicates"
        ]
        return found

    assert duplicates(copy[0])["cluster_id"] == first[0]
    assert first[0] in duplicates(copy[0])["near_duplicates"]
    assert duplicates(exact[0])["duplicate_of"] == first[0]
    assert duplicates(unrelated[0])["cluster_id"] == unrelated[0]

    # The article page lists the same story from the other outlets.
    related = web_client.get(f"/api/articles/{first[0]}/related").get_json()
    assert {hit["id"] for hit in related["same_story"]} == {copy[0], exact[0]}
    assert first[0] not in {hit["id"] for hit in related["related"]}
    page = web_client.get(f"/articles/{first[0]}").get_data(as_text=True)
    assert "The same story elsewhere" in page
    assert web_client.get(f"/api/articles/{'0' * 32}/related").status_code == 404
