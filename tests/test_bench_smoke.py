"""The benchmark harness (bench/) works: its smallest pieces, in seconds. The benchmarks
themselves run with ``make bench`` / ``make bench-quick``, never in the test command."""

from __future__ import annotations

import contextlib
import http.server
import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench import corpus, enriched, report
from bench.index import build_search_index, measure_raw_bulk
from bench.load import percentile, run_load, timed_requests
from bench.profiles import summarise
from bench.search import MIX, baseline_match_all, in_process, prefixes, query_mix
from bench.stack import CpuMeter, free_port
from shared.index import ensure_index
from shared.settings import Settings
from worker.enrich.registry import article_mappings


def _unit(seed: int) -> list[float]:
    vector = np.random.default_rng(seed).normal(size=384)
    return [float(x) for x in vector / np.linalg.norm(vector)]


def _doc(number: int, title: str, body: str, person: str, place: str) -> dict[str, Any]:
    """An enriched document as worker.enrich makes it (the fields the mapping and the query mix
    read), without loading any model."""
    return {
        "id": f"{number:032x}",
        "url": f"https://example.org/story/{number}",
        "source": "Example Wire",
        "title": title,
        "body": body,
        "language": "en",
        "published_at": "2017-02-07T00:00:00+00:00",
        "received_at": "2017-02-07T00:05:00+00:00",
        "people": [person],
        "places": [{"name": place, "country": "France", "country_code": "FR"}],
        "keywords": ["harbour"],
        "suggest": [{"input": [title], "weight": 20, "contexts": {"kind": ["title"]}}],
        "embedding": _unit(number),
    }


DOCS = {
    0: _doc(
        1,
        "Harbour reopens after the storm damaged its northern quays",
        "The harbour reopened on Monday after engineers repaired the quays. " * 12,
        "Ann Writer",
        "Marseille",
    ),
    1: _doc(
        2,
        "Parliament debates the budget for coastal defences",
        "Members of parliament debated the coastal defence budget late into the night. " * 12,
        "Mark Zorblatt",
        "Paris",
    ),
}


def test_replicas_are_new_but_similar_documents() -> None:
    original = DOCS[0]
    first, again = enriched.replicate(original, 0, 3), enriched.replicate(original, 0, 3)
    assert first == again  # seeded: the same on every run
    assert first["id"] != original["id"]
    assert first["url"] == f"{original['url']}/bench-3"
    assert first["duplicates"]["cluster_id"] == original["id"]
    assert sorted(first["body"].split()) == sorted(original["body"].split())
    assert first["body"] != original["body"]
    vector, base = np.array(first["embedding"]), np.array(original["embedding"])
    assert math.isclose(float(np.linalg.norm(vector)), 1.0, abs_tol=1e-5)
    assert 0.95 < float(vector @ base) < 0.995
    assert corpus.FIRST_DAY.isoformat() <= first["published_at"] <= corpus.LAST_DAY.isoformat()
    assert first["suggest"][0]["input"][0].split()[0] in original["title"].split()
    itself = enriched.replicate(original, 0, 0)
    assert itself["id"] == original["id"]
    assert itself["embedding"] == original["embedding"]


def test_swap_words_keeps_the_words() -> None:
    text = "one two three four five six seven"
    swapped = corpus.swap_words(text, 2, corpus.rng_for(1, 1))
    assert sorted(swapped.split()) == sorted(text.split())
    assert corpus.swap_words("too short", 3, corpus.rng_for(1, 1)) == "too short"


def test_percentile() -> None:
    values = [float(x) for x in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert math.isnan(percentile([], 50))


def test_report_marks_targets_and_rewrites_only_its_block(tmp_path: Path) -> None:
    results: dict[str, Any] = {
        "mode": "quick",
        "date": "2026-11-26T00:00:00+00:00",
        "docs": 10_000,
        "machine": {"cores": 2, "cpu": "x", "memory_gb": 24.0, "load_average": [1, 1, 1]},
        "versions": dict.fromkeys(
            (
                "elasticsearch_server",
                "redis_server",
                "python",
                "spacy_py",
                "celery_py",
                "gunicorn_py",
                "newsroom_commit",
            ),
            "1",
        ),
        "pipeline_aps": 12.0,
        "enrich_inprocess_aps": 12.5,
        "pipeline_efficiency": 0.96,
        "search_p99_ms": 90.0,
        "enrichment": {"ms_per_step": {"parse_english": 70.0, "embed_articles": 45.0}},
    }
    assert report.met("pipeline_efficiency", 0.96) is True
    assert report.met("search_p99_ms", 90.0) is False
    assert report.met("search_p99_1m_over_100k", None) is None
    text = report.render(results)
    assert "| `pipeline_efficiency`" in text
    assert "**no**" in text
    assert "parse_english" in text
    doc = tmp_path / "BENCH.md"
    doc.write_text(
        "# Title\n\nprose\n\n<!-- bench:latest:begin -->\nold\n<!-- bench:latest:end -->\n"
    )
    report.update_doc("latest", text, doc)
    report.update_doc("latest", text, doc)
    written = doc.read_text()
    assert written.startswith("# Title\n\nprose\n")
    assert "old" not in written
    assert written.count("<!-- bench:latest:begin -->") == 1


def test_profile_summary() -> None:
    lines = [
        "main (app.py:1);enrich (worker/enrich/x.py:5);parse (spacy/y.py:9) 30",
        "main (app.py:1);enrich (worker/enrich/x.py:5) 10",
        "main (app.py:1);wait (threading.py:3) 60",
    ]
    total, inclusive, own = summarise(lines)
    assert total == 40  # the waiting thread is idle, not work
    assert inclusive["enrich (worker/enrich/x.py)"] == 40
    assert own["parse (spacy/y.py)"] == 30


@pytest.fixture
def local_server() -> Iterator[str]:
    class Quiet(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        do_GET = do_POST = _answer  # noqa: N815 (http.server dispatches on these names)

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Quiet) as url:
        yield url


@contextlib.contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """A threaded HTTP server of ``handler`` on a free loopback port, for the block: its URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def test_load_generator(local_server: str) -> None:
    result = run_load(local_server, [("/x", b"{}")] * 30, clients=2)
    assert result.requests == 30
    assert result.statuses == {200: 30}
    assert result.per_second > 0
    latencies, statuses = timed_requests(local_server, ["/a"] * 5, warm_up=2)
    assert len(latencies) == 3
    assert statuses == [200, 200, 200]


def test_bulk_index_and_search_on_a_tiny_index(services: None, settings: Settings) -> None:
    """The Elasticsearch half of the harness against the real service, on 40 documents."""
    bulk = measure_raw_bulk(
        DOCS, 20, chunks=(10, 5), threads=2, prefix=f"{settings.index_prefix}-benchbulk"
    )
    assert bulk["docs"] == 20
    assert bulk["es_bulk_raw_dps"] > 0
    assert set(bulk["by_chunk"]) == {"10", "5"}
    prefix = f"{settings.index_prefix}-benchsearch"
    built = build_search_index(DOCS, 40, chunk=10, prefix=prefix, settle_s=0.2)
    assert built["docs"] == 40
    assert built["reused"] is False
    assert build_search_index(DOCS, 40, chunk=10, prefix=prefix)["reused"] is True
    search_settings = Settings(index_prefix=prefix)
    queries = query_mix(list(DOCS.values()), 12)
    assert {q["_kind"] for q in queries} <= set(MIX)
    latencies, modes = in_process(search_settings, queries, warm_up=queries[:2])
    assert len(latencies) == 12
    assert sum(modes.values()) == 12
    assert len(baseline_match_all(search_settings, 5, warm_up=1)) == 5
    assert all(len(p) >= 2 for p in prefixes(list(DOCS.values()), 5))


def test_cpu_meter_counts_this_process(services: None, settings: Settings) -> None:
    import os

    from shared.clients import get_elasticsearch, get_redis

    es = get_elasticsearch(settings)
    ensure_index(es, settings, article_mappings())
    meter = CpuMeter({"me": [os.getpid()]}, get_redis(settings), es).start()
    sum(i * i for i in range(300_000))
    used = meter.stop()
    assert used["me"] > 0
    assert used["machine"] >= used["me"] * 0.5
    assert {"redis", "elasticsearch", "wall"} <= set(used)
