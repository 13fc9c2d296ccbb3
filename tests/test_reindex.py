"""Zero-downtime re-enrichment: searches keep answering and articles keep arriving while
`newsroom reindex` rebuilds the index; then nothing is lost and the aliases have moved.

The drill gets its own index prefix and its own worker, so rebuilding never disturbs the index
the other tests share."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from click.testing import CliRunner

from cli.main import cli
from shared.clients import get_elasticsearch, get_redis
from shared.index import index_behind
from shared.index.rebuild import (
    RebuildError,
    needs_enrichment,
    payload_from_document,
    rebuild_index,
    start_rebuild,
)
from shared.settings import Settings
from tests.reindex_support import Drill, SearchLoop, post_one_by_one, reindex_drill
from tests.reindex_support import all_indexed as _all_indexed
from tests.reindex_support import article as _article
from tests.reindex_support import post as _post
from tests.reindex_support import stored as _stored
from worker.celery_app import app as celery_app
from worker.enrich.registry import ENRICHMENT_VERSION

BEFORE = 30  # articles indexed before the rebuild
DURING = 12  # articles posted while it runs


@pytest.fixture(scope="module")
def drill(
    services: None, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Drill]:
    with reindex_drill(
        settings, tmp_path_factory.mktemp("reindex"), "reindex", before=BEFORE
    ) as drill:
        yield drill


def test_rebuild_while_searching_and_posting(drill: Drill) -> None:
    es = get_elasticsearch(drill.settings)
    old = index_behind(es, drill.settings.articles_alias)
    searches = SearchLoop(drill.web, BEFORE)
    searches.start()
    during: list[str] = []
    phases: list[str] = []
    # A future, so an exception in the poster fails the test (a bare Thread would only warn).
    with ThreadPoolExecutor(1) as pool:
        poster = pool.submit(post_one_by_one, drill, DURING, during)
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
