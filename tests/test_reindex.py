"""Zero-downtime re-enrichment: searches keep answering and articles keep arriving while
`newsroom reindex` rebuilds the index; then nothing is lost and the aliases have moved.

The drill gets its own index prefix and its own worker, so rebuilding never disturbs the index
the other tests share."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

import ingest
import web
from cli.main import cli
from shared.clients import get_elasticsearch, get_redis
from shared.index import delete_templates, index_behind
from shared.index.rebuild import (
    RebuildError,
    needs_enrichment,
    payload_from_document,
    rebuild_index,
    start_rebuild,
)
from shared.settings import Settings
from tests.conftest import RUN_ID, start_worker, stop_worker, wait_until
from worker.celery_app import app as celery_app
from worker.enrich.registry import ENRICHMENT_VERSION

BEFORE = 30  # articles indexed before the rebuild
DURING = 12  # articles posted while it runs


@dataclass
class Drill:
    settings: Settings
    ingest: FlaskClient
    web: FlaskClient
    accepted: list[str] = field(default_factory=list)


def _article(number: int, phase: str) -> dict[str, Any]:
    return {
        "title": f"Reindex drill {phase} story {number}",
        "body": f"The ferry to Kirkwall ran late on day {number} of the {phase} trial, "
        "the harbour office said. Passengers waited an hour.",
        "url": f"https://reindex.example/{phase}/{number}",
        "source": "Drill Wire",
        "published_at": f"2025-0{1 + number % 9}-1{number % 9}T08:00:00Z",
    }


def _post(drill: Drill, articles: list[dict[str, Any]]) -> list[str]:
    response = drill.ingest.post("/articles", json=articles)
    assert response.status_code == 202, response.get_json()
    ids = [article["id"] for article in response.get_json()["articles"]]
    drill.accepted += ids
    return ids


def _all_indexed(drill: Drill, ids: list[str]) -> None:
    def done() -> bool:
        states = {drill.ingest.get(f"/articles/{i}").get_json()["state"] for i in ids}
        assert "failed" not in states
        return states == {"indexed"}

    wait_until(done, timeout_s=120)


@pytest.fixture(scope="module")
def drill(
    services: None, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Drill]:
    prefix = f"{settings.index_prefix}-reindex"
    own = settings.model_copy(
        update={
            "index_prefix": prefix,
            "queue_name": f"test-{RUN_ID}-reindex",
            "bulk_queue_name": f"test-{RUN_ID}-reindex-bulk",
        }
    )
    env = os.environ | {
        "NEWSROOM_INDEX_PREFIX": own.index_prefix,
        "NEWSROOM_QUEUE_NAME": own.queue_name,
        "NEWSROOM_BULK_QUEUE_NAME": own.bulk_queue_name,
    }
    log_path: Path = tmp_path_factory.mktemp("reindex") / "worker.log"
    worker = start_worker(env, log_path, [own.queue_name, own.bulk_queue_name], f"reindex-{RUN_ID}")
    drill = Drill(
        own,
        ingest.create_app({"TESTING": True, "NEWSROOM_SETTINGS": own}).test_client(),
        web.create_app({"TESTING": True, "NEWSROOM_SETTINGS": own}).test_client(),
    )
    try:
        ids = _post(drill, [_article(n, "before") for n in range(BEFORE)])
        _all_indexed(drill, ids)
        get_elasticsearch(own).indices.refresh(index=own.articles_alias)
        yield drill
    finally:
        stop_worker(worker)
        es = get_elasticsearch(settings)
        names = list(es.indices.get(index=f"{prefix}-*", allow_no_indices=True))
        if names:
            es.indices.delete(index=",".join(names))
        delete_templates(es, own)
        get_redis(settings).delete(own.queue_name, own.bulk_queue_name)


class SearchLoop(threading.Thread):
    """Searches as readers do, all the time, counting every failure."""

    def __init__(self, client: FlaskClient, at_least: int) -> None:
        super().__init__(daemon=True)
        self.client, self.at_least = client, at_least
        self.stop = threading.Event()
        self.searches = 0
        self.failures: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._search_until_stopped()
        except BaseException as error:  # kept for finish(): the test fails, not just warns
            self.error = error
            raise

    def finish(self) -> None:
        """Stop and join; raise what the thread raised."""
        self.stop.set()
        self.join(timeout=30)
        if self.error is not None:
            raise AssertionError(f"the search thread failed: {self.error!r}") from self.error
        assert not self.is_alive(), "the search thread did not stop"

    def _search_until_stopped(self) -> None:
        while not self.stop.is_set():
            response = self.client.get("/api/search?q=ferry&mode=keyword&size=1")
            self.searches += 1
            if response.status_code != 200:
                self.failures.append(f"{response.status_code}: {response.get_data(as_text=True)}")
            elif response.get_json()["total"] < self.at_least:
                self.failures.append(f"only {response.get_json()['total']} results")
            time.sleep(0.02)


def _stored(drill: Drill, index: str) -> dict[str, dict[str, Any]]:
    es = get_elasticsearch(drill.settings)
    es.indices.refresh(index=index)
    found = es.search(
        index=index,
        size=1000,
        query={"match_all": {}},
        source={"exclude_vectors": False},
    )
    return {hit["_id"]: hit["_source"] for hit in found["hits"]["hits"]}


def test_rebuild_while_searching_and_posting(drill: Drill) -> None:
    es = get_elasticsearch(drill.settings)
    old = index_behind(es, drill.settings.articles_alias)
    searches = SearchLoop(drill.web, BEFORE)
    searches.start()
    during: list[str] = []

    def post_during() -> None:
        for number in range(DURING):
            during.extend(_post(drill, [_article(number, "during")]))
            time.sleep(0.25)

    phases: list[str] = []
    # A future, so an exception in the poster fails the test (a bare Thread would only warn).
    with ThreadPoolExecutor(1) as pool:
        poster = pool.submit(post_during)
        report = rebuild_index(
            es=es,
            redis_client=get_redis(drill.settings),
            celery_app=celery_app,
            settings=drill.settings,
            timeout_s=300,
            progress=lambda phase, _done, _total: phases.append(phase),
        )
        poster.result(timeout=300)
    _all_indexed(drill, during)
    time.sleep(0.5)
    searches.finish()

    assert searches.searches > 20
    assert searches.failures == []
    assert report.old_index == old
    assert report.new_index != old
    assert report.failed == {}
    assert report.reenriched >= BEFORE
    assert {"reading", "re-enriching", "switching"} <= set(phases)
    # Both aliases moved; the rebuild alias is gone; the old index is kept.
    assert index_behind(es, drill.settings.articles_alias) == report.new_index
    assert index_behind(es, drill.settings.articles_write_alias) == report.new_index
    assert index_behind(es, drill.settings.articles_next_alias) is None
    assert es.indices.exists(index=old)

    stored = _stored(drill, report.new_index)
    assert set(stored) == set(drill.accepted)  # nothing lost, nothing extra
    for article in stored.values():
        assert article["enrichment"]["version"] == ENRICHMENT_VERSION
        assert len(article["embedding"]) == 384
        assert article["revision"] == 1
    # New articles keep arriving after the switch, into the new index.
    (late,) = _post(drill, [_article(0, "after")])
    _all_indexed(drill, [late])
    assert late in _stored(drill, report.new_index)


def test_only_outdated_copies_the_rest_with_their_vectors(drill: Drill) -> None:
    es = get_elasticsearch(drill.settings)
    live = index_behind(es, drill.settings.articles_alias)
    assert live is not None
    outdated = sorted(_stored(drill, live))[:5]
    for article_id in outdated:
        es.update(index=live, id=article_id, doc={"enrichment": {"version": "0"}})
    report = rebuild_index(
        es=es,
        redis_client=get_redis(drill.settings),
        celery_app=celery_app,
        settings=drill.settings,
        only_outdated=True,
        timeout_s=300,
    )
    assert report.reenriched == len(outdated)
    assert report.copied == len(drill.accepted) - len(outdated)
    stored = _stored(drill, report.new_index)
    assert set(stored) == set(drill.accepted)
    assert all(stored[i]["enrichment"]["version"] == ENRICHMENT_VERSION for i in outdated)
    assert all(len(article["embedding"]) == 384 for article in stored.values())
    # Meaning search still works on copied documents.
    found = drill.web.get("/api/search?q=delayed%20boat%20crossing&mode=semantic").get_json()
    assert found["total"] > 0


def test_a_second_rebuild_cannot_start_while_one_runs(drill: Drill) -> None:
    es = get_elasticsearch(drill.settings)
    _, new = start_rebuild(es, drill.settings, "concurrent")
    try:
        with pytest.raises(RebuildError, match="already running"):
            start_rebuild(es, drill.settings, "second")
    finally:
        es.indices.delete(index=new)
    assert index_behind(es, drill.settings.articles_next_alias) is None


def test_the_command_aborts_when_nothing_runs() -> None:
    result = CliRunner().invoke(cli, ["reindex", "--abort"])
    assert result.exit_code == 0, result.output
    assert "no rebuild was running" in result.output
    assert "Rebuild the article index" in CliRunner().invoke(cli, ["reindex", "--help"]).output


def test_payload_from_an_older_document_keeps_only_what_the_client_sent() -> None:
    doc = {
        "_id": "a" * 32,
        "title": "Derived from the first sentence",
        "title_derived": True,
        "body": "The text.",
        "language": "en",
        "language_detected": True,
        "published_at": "2025-09-30T00:00:00+00:00",
        "published_at_source": "dateline",
        "source": "Wire",
        "received_at": "2025-09-30T10:00:00+00:00",
        "content_type": "text/plain",
    }
    payload = payload_from_document(doc)
    assert payload["id"] == "a" * 32
    assert payload["body"] == "The text."
    assert payload["title"] is None
    assert payload["language"] is None
    assert payload["published_at"] is None
    assert payload["rebuild"] is True
    stored = {"_id": "b" * 32, "original": {"body": "Kept.", "received_at": "x", "title": "T"}}
    assert payload_from_document(stored)["title"] == "T"
    current = {"enrichment_version": ENRICHMENT_VERSION}
    assert (
        needs_enrichment(
            {"enrichment": {"version": ENRICHMENT_VERSION}}, only_outdated=True, **current
        )
        is False
    )
    assert needs_enrichment({"enrichment": {"version": "0"}}, only_outdated=True, **current) is True
    assert needs_enrichment(
        {"enrichment": {"version": ENRICHMENT_VERSION}}, only_outdated=False, **current
    )
