"""Prometheus metrics (issue 7): the Redis-backed counters, /metrics on ingest and web parsed
as Prometheus text, the counters moving when articles go through the real worker, and the
pipeline page."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

import ingest
from shared import metrics
from shared.clients import get_redis
from shared.settings import Settings
from tests.conftest import RUN_ID, Login, wait_until
from web.pipeline import chart_bars

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str | bytes) -> tuple[dict[str, str], Samples]:
    """The families' types and every sample, as the Prometheus parser reads them."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    types: dict[str, str] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return types, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(client: FlaskClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    return parse(response.get_data(as_text=True))[1]


# --- the store, on the real Redis ----------------------------------------------------------------


@pytest.fixture
def prefix(services: None) -> Iterator[str]:
    name = f"newsroom-metrics-{uuid.uuid4().hex[:8]}"
    yield name
    client = get_redis()
    keys = list(client.scan_iter(f"{name}:*", count=1000))
    if keys:
        client.delete(*keys)


def test_counters_and_histograms_add_up_across_commits(prefix: str) -> None:
    client = get_redis()
    first = metrics.Recorder().inc(metrics.ACCEPTED, 3).inc(metrics.FAILED, 2, stage="indexing")
    first.observe(metrics.STEP_SECONDS, 0.003, step="find_entities")
    first.observe(metrics.STEP_SECONDS, 0.2, step="find_entities")
    first.commit(client, prefix, now=600.0)
    second = metrics.Recorder().inc(metrics.ACCEPTED, 2)
    second.observe(metrics.STEP_SECONDS, 99.0, step="find_entities")  # above every bound
    second.commit(client, prefix, now=660.0)

    types, samples = parse(
        metrics.render(metrics.metric_families(metrics.read_totals(client, prefix)))
    )
    assert types["newsroom_articles_accepted"] == "counter"
    assert value(samples, "newsroom_articles_accepted_total") == 5
    assert value(samples, "newsroom_articles_failed_total", stage="indexing") == 2
    # Counters without labels are there before anything happened.
    assert value(samples, "newsroom_articles_dead_lettered_total") == 0
    assert ("newsroom_articles_dead_lettered_total", ()) in samples
    step = {"step": "find_entities"}
    name = "newsroom_enrichment_step_duration_seconds"
    assert types[name] == "histogram"
    assert value(samples, f"{name}_bucket", le="0.001", **step) == 0
    assert value(samples, f"{name}_bucket", le="0.005", **step) == 1  # cumulative
    assert value(samples, f"{name}_bucket", le="0.25", **step) == 2
    assert value(samples, f"{name}_bucket", le="30.0", **step) == 2
    assert value(samples, f"{name}_bucket", le="+Inf", **step) == 3
    assert value(samples, f"{name}_count", **step) == 3
    assert math.isclose(value(samples, f"{name}_sum", **step), 99.203)

    # The per-minute series: minute 10 and minute 11 (Unix time 600 and 660).
    series = metrics.read_series(client, prefix, minutes=3, now=700.0)
    assert [row["minute"] for row in series] == [540, 600, 660]
    assert [row["accepted"] for row in series] == [0, 3, 2]
    assert [row["failed"] for row in series] == [0, 2, 0]


def test_labels_are_checked_and_failures_kept_newest_first(prefix: str) -> None:
    with pytest.raises(ValueError, match="expected labels"):
        metrics.Recorder().inc(metrics.FAILED, 1)
    with pytest.raises(ValueError, match="expected labels"):
        metrics.Recorder().inc(metrics.ACCEPTED, 1, stage="x")
    client = get_redis()
    for n in range(metrics.RECENT_FAILURES + 5):
        metrics.Recorder().failure(
            f"{n:032x}", f"reason {n}", stage="indexing", final=False
        ).commit(client, prefix)
    latest = metrics.recent_failures(client, prefix, limit=100)
    assert len(latest) == metrics.RECENT_FAILURES
    assert latest[0]["reason"] == f"reason {metrics.RECENT_FAILURES + 4}"


def test_an_odd_field_never_breaks_the_scrape(prefix: str) -> None:
    client = get_redis()
    client.hset(metrics.counters_key(prefix), mapping={"not json": 1, '["unknown", []]': 4})
    client.hset(metrics.histograms_key(prefix), mapping={'["bulk_documents", [], "1", "x"]': 2})
    metrics.Recorder().inc(metrics.INDEXED, 7).commit(client, prefix)
    _, samples = parse(metrics.render(metrics.metric_families(metrics.read_totals(client, prefix))))
    assert value(samples, "newsroom_articles_indexed_total") == 7


def test_the_chart_stacks_indexed_on_failed() -> None:
    minutes = [
        {"minute": 60 * n, "indexed": n * 10, "failed": 5 if n == 2 else 0, "accepted": 0}
        for n in range(4)
    ]
    chart = chart_bars(minutes)
    assert chart["peak"] == 30
    last, with_failures = chart["bars"][3], chart["bars"][2]
    assert (last["indexed_h"], last["failed_h"], last["indexed_y"]) == (80.0, 0.0, 0.0)
    assert with_failures["failed_h"] == pytest.approx(80 * 5 / 30, abs=0.01)
    assert with_failures["indexed_y"] + with_failures["indexed_h"] == pytest.approx(
        with_failures["failed_y"], abs=0.02
    )
    assert chart["bars"][0]["title"].startswith("00:00 UTC: 0 indexed")


# --- /metrics on both services, with the real worker --------------------------------------------


@pytest.mark.stack
def test_both_services_expose_prometheus_text(
    ingest_client: FlaskClient, web_client: FlaskClient
) -> None:
    for client in (ingest_client, web_client):
        response = client.get("/metrics")
        assert response.status_code == 200
        types, samples = parse(response.get_data(as_text=True))
        assert types["newsroom_http_requests"] == "counter"
        assert types["newsroom_queue_waiting_tasks"] == "gauge"
        assert types["newsroom_search_duration_seconds"] == "histogram"
        assert ("newsroom_elasticsearch_up", ()) in samples
    # The counters are pipeline-wide: both services tell the same totals.
    accepted = [
        value(scrape(client), "newsroom_articles_accepted_total")
        for client in (ingest_client, web_client)
    ]
    assert accepted[0] == accepted[1]


@pytest.mark.stack
def test_counters_move_when_articles_go_through_the_worker(
    ingest_client: FlaskClient,
    web_client: FlaskClient,
    worker: Any,
    wait_indexed: Callable[[list[str]], None],
    settings: Settings,
) -> None:
    before = scrape(ingest_client)
    word = f"metricsword{RUN_ID}"
    articles = [
        {
            "title": f"Harbour metrics {n}",
            "body": f"The harbour council met on Monday ({word} {n}) and approved the new quay, "
            "the mayor said after the vote.",
        }
        for n in range(3)
    ]
    response = ingest_client.post("/articles", json=[*articles, {"title": "no body"}])
    assert response.status_code == 202
    ids = [a["id"] for a in response.get_json()["articles"]]
    wait_indexed(ids)
    search = web_client.get(f"/api/search?q={word}&mode=keyword")
    assert search.get_json()["total"] == 3

    def moved() -> Samples | None:
        now = scrape(web_client)
        done = value(now, "newsroom_articles_indexed_total") - value(
            before, "newsroom_articles_indexed_total"
        )
        return now if done >= 3 else None  # the worker counts right after recording states

    after = wait_until(moved, timeout_s=30)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("newsroom_articles_accepted_total") == 3
    assert delta("newsroom_articles_rejected_total") == 1
    assert delta("newsroom_articles_queued_total", origin="ingest") == 3
    assert delta("newsroom_articles_enriched_total") >= 3
    assert delta("newsroom_batches_processed_total") >= 1
    assert delta("newsroom_enrichment_step_duration_seconds_count", step="find_entities") >= 1
    assert delta("newsroom_enrichment_step_duration_seconds_count", step="embed_articles") >= 1
    assert delta("newsroom_bulk_documents_count") >= 1
    assert delta("newsroom_batch_duration_seconds_count") >= 1
    assert (
        delta(
            "newsroom_http_requests_total",
            service="ingest",
            endpoint="ingest.post_articles",
            method="POST",
            status="202",
        )
        == 1
    )
    assert delta("newsroom_search_duration_seconds_count", mode="keyword") >= 1
    assert (
        delta("newsroom_http_request_duration_seconds_count", service="web", endpoint="search.api")
        >= 1
    )
    assert value(after, "newsroom_index_documents") >= 3
    assert value(after, "newsroom_workers_alive") >= 1
    assert value(after, "newsroom_elasticsearch_up") == 1
    assert value(after, "newsroom_queue_waiting_tasks", queue=settings.queue_name) >= 0


@pytest.mark.stack
def test_refusals_are_counted(ingest_client: FlaskClient, settings: Settings) -> None:
    """A 429 under backpressure counts as refused (backlog)."""
    queue = f"{settings.queue_name}-metrics-full"
    full = settings.model_copy(update={"queue_name": queue, "ingest_max_queued_tasks": 1})
    client = get_redis(settings)
    client.rpush(queue, "blocker")
    try:
        app = ingest.create_app({"TESTING": True, "NEWSROOM_SETTINGS": full}).test_client()
        before = value(scrape(app), "newsroom_ingest_refused_requests_total", reason="backlog")
        assert app.post("/articles", json={"body": "refused"}).status_code == 429
        after = value(scrape(app), "newsroom_ingest_refused_requests_total", reason="backlog")
        assert after - before == 1
    finally:
        client.delete(queue)


@pytest.mark.stack
def test_the_pipeline_page_and_its_json(admin_client: FlaskClient) -> None:
    page = admin_client.get("/pipeline")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="throughput"' in html
    assert "/static/pipeline.js" in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # no inline script (CSP)
    assert " style=" not in html
    state = admin_client.get("/api/pipeline").get_json()
    assert len(state["throughput"]["minutes"]) == 30
    assert set(state["throughput"]["per_minute"]) == set(metrics.SERIES_FIELDS)
    assert state["refresh_s"] == 2
    # The footer links to it from every page.
    assert 'href="/pipeline"' in admin_client.get("/").get_data(as_text=True)
    assert admin_client.get("/pipeline/dead-letters/" + "0" * 32).status_code == 404


def test_without_redis_metrics_answer_503_and_requests_go_on(
    settings: Settings, admin_login: Login
) -> None:
    import web

    down = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0", "broker_url": None})
    # Ingest checks credentials first (ingest/auth.py): without Redis, only the shared key,
    # which needs no lookup, gets a request as far as the metrics.
    keyed = down.model_copy(update={"ingest_api_key": SecretStr("k" * 32)})
    for app, headers in (
        (web.create_app({"TESTING": True, "NEWSROOM_SETTINGS": down}), {}),
        (
            ingest.create_app({"TESTING": True, "NEWSROOM_SETTINGS": keyed}),
            {"Authorization": "Bearer " + "k" * 32},
        ),
    ):
        client = app.test_client()
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 503
        assert response.get_json()["title"] == "Metrics unavailable"
        # A request whose metrics cannot be written is answered all the same.
        openapi = "/api/openapi.json" if app.name == "web" else "/openapi.json"
        assert client.get(openapi).status_code == 200
    # An admin's page (web/auth.py): the account store is Redis too.
    client = admin_login.apply(
        web.create_app({"TESTING": True, "NEWSROOM_SETTINGS": down}).test_client()
    )
    assert client.get("/api/pipeline").status_code == 503
    page = client.get("/pipeline")
    assert page.status_code == 503
    assert "Redis is unreachable" in page.get_data(as_text=True)
