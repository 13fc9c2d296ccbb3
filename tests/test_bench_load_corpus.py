"""The benchmark's generated corpus (bench/generate.py), query pool (bench/search.py) and
open-loop load (bench/openloop.py): their pure parts, in seconds, and the open-loop client
against a small HTTP server of its own. The benchmarks run with ``make bench``."""

from __future__ import annotations

import http.server
import json
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from bench import generate, openloop
from bench.search import MIX, misspell, prefixes, query_key, query_pool
from tests.test_bench_smoke import DOCS, serving

# A third template, so the generator has people with first and last names to combine.
TEMPLATES = {
    **DOCS,
    2: {
        **DOCS[0],
        "id": f"{3:032x}",
        "url": "https://example.org/story/3",
        "title": "Senate votes on the northern rail tunnel after a long debate",
        "body": "Senators voted on the rail tunnel plan on Tuesday evening. " * 15,
        "people": ["Ann Writer", "Joe Carver", "Lena Brook"],
        "organisations": ["Senate", "Rail Agency"],
        "entity_mentions": {"people": [{"name": "Joe Carver", "mentions": 3}]},
        "quotes": [{"text": "We will build it", "speaker": "Joe Carver"}],
        "embedding": DOCS[1]["embedding"][::-1],
    },
}


def test_synthetic_words_are_distinct_and_stable() -> None:
    words = [generate.synthetic_word(rank) for rank in range(5000, 15000)]
    assert len(set(words)) == len(words)
    assert generate.synthetic_word(123456) == generate.synthetic_word(123456)
    assert all(word.isalpha() and len(word) >= 6 for word in words)


def test_generated_documents() -> None:
    generator = generate.Generator(TEMPLATES)
    made = [generator.document(n) for n in range(400)]
    again = [generator.document(n) for n in range(400)]
    assert [m.doc for m in made] == [m.doc for m in again]  # the same on every run
    docs = [m.doc for m in made]
    # The first positions are the articles themselves.
    assert [d["id"] for d in docs[:3]] == [TEMPLATES[i]["id"] for i in sorted(TEMPLATES)]
    assert len({d["id"] for d in docs}) == len(docs)
    by_id = {d["id"]: n for n, d in enumerate(docs)}
    copies = [d for d in docs if d["duplicates"]["duplicate_of"]]
    assert 0.04 < len(copies) / len(docs) < 0.2
    for copy in copies:  # a copy's original is an earlier document of the index, not a copy
        original = by_id[copy["duplicates"]["duplicate_of"]]
        assert original < by_id[copy["id"]]
        assert docs[original]["duplicates"]["duplicate_of"] is None
        assert sorted(copy["body"].split()) == sorted(docs[original]["body"].split())
    # Words, people and outlets beyond the templates'; vectors spread, unit length.
    assert sum(m.synthetic_ranks != [] for m in made) > 50
    people = {p for d in docs for p in d["people"]}
    assert len(people) > 3 * len({p for t in TEMPLATES.values() for p in t["people"]})
    assert len({d["source"] for d in docs}) > 5
    vectors = np.asarray([d["embedding"] for d in docs[3:]])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    fresh = [n for n in range(3, 400) if docs[n]["duplicates"]["duplicate_of"] is None]
    template = np.asarray(TEMPLATES[sorted(TEMPLATES)[fresh[0] % 3]]["embedding"])
    assert float(vectors[fresh[0] - 3] @ template) < 0.95
    # A renamed speaker is renamed in the quotes too; autocomplete inputs follow the names.
    for doc in docs:
        names = set(doc["people"])
        assert all(q["speaker"] in names | {"Joe Carver"} for q in doc.get("quotes") or [])


def test_serialise_is_json_of_the_document() -> None:
    generator = generate.Generator(TEMPLATES)
    for n in range(60):
        made = generator.document(n)
        back = json.loads(generator.serialise(made))
        vector = back.pop("embedding")
        doc = dict(made.doc)
        assert np.allclose(vector, doc.pop("embedding"), atol=1e-6)
        assert back == doc


def test_suggest_entries_are_the_workers() -> None:
    from worker.enrich.suggest import suggestion_inputs

    generator = generate.Generator(TEMPLATES)
    for n in range(3, 80):
        doc = generator.document(n).doc
        assert doc["suggest"] == suggestion_inputs(doc)


def test_heaps_fit_and_recall() -> None:
    curve = [(n, round(7 * n**0.6)) for n in (1000, 2000, 5000, 10_000, 100_000)]
    assert generate.heaps_beta(curve) == pytest.approx(0.6, abs=0.01)
    assert generate.heaps_beta(curve[:1]) is None
    assert generate.recall_at_k([["a", "b", "x"]], [["a", "b", "c"]], k=3) == pytest.approx(2 / 3)


def test_tally_finds_the_exact_neighbours() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(1200, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"d{i}" for i in range(len(vectors))]
    queries = vectors[:5] + 0.1 * rng.normal(size=(5, 384)).astype(np.float32)
    tally = generate.Tally(base_words=100, queries=queries, k=10)
    for start in range(0, len(ids), 500):
        tally.add(ids[start : start + 500], vectors[start : start + 500], [start, start + 1])
    exact = [[ids[i] for i in np.argsort(-(vectors @ q))[:10]] for q in queries]
    assert tally.exact_neighbours() == exact
    assert tally.distinct_words == 106
    assert tally.curve == [(1000, 104)]


def test_query_pool_is_distinct_and_has_the_long_tail() -> None:
    docs = list(TEMPLATES.values())
    pool = query_pool(docs, 400, seed=5)
    keys = {tuple(sorted((k, str(v)) for k, v in p.items() if k != "_kind")) for p in pool}
    assert len(keys) == len(pool) == 400
    kinds = {p["_kind"] for p in pool}
    assert {"rare", "misspelled", "zero_result"} <= kinds <= set(MIX)
    assert sum(MIX.values()) == pytest.approx(1.0)
    assert all(p["mode"] == "keyword" for p in pool if p["_kind"] == "zero_result")
    assert query_pool(docs, 400, seed=6) != pool  # a fresh seed, another draw
    assert query_pool(docs, 400, seed=5) == pool
    # Queries sent before are left out.
    later = query_pool(docs, 400, seed=5, exclude={query_key(p) for p in pool[:100]})
    assert not {query_key(p) for p in later} & {query_key(p) for p in pool[:100]}
    assert len(later) == 400


def test_misspell_makes_one_error() -> None:
    rng = random.Random(1)
    for _ in range(200):
        wrong = misspell("harbour", rng)
        assert wrong != "harbour"
        assert wrong[0] == "h"
        assert abs(len(wrong) - len("harbour")) <= 1


def test_prefixes_are_distinct_while_they_last() -> None:
    typed = prefixes(list(TEMPLATES.values()), 20, seed=3)
    assert len(typed) == 20
    assert len(set(typed)) == 20


def test_arrivals_and_step_figures() -> None:
    times = openloop.arrival_times(20.0, 30.0, seed=1)
    assert times == openloop.arrival_times(20.0, 30.0, seed=1)
    assert times == sorted(times)
    assert 500 < len(times) < 700  # Poisson: 600 expected
    # Latency counts the wait from the scheduled time; service time does not.
    samples = [(0.0, 0.0, 0.010, 200), (0.001, 0.010, 0.020, 200), (0.002, 0.020, 0.030, 500)]
    step = openloop.step_figures(samples, 100.0, 1.0)
    assert step["p50_ms"] == pytest.approx(19.0)
    assert step["service_p50_ms"] == pytest.approx(10.0)
    assert step["errors"] == 1
    assert not openloop.passes(step)


def test_qps_at_target_stops_at_the_first_failure() -> None:
    def step(rate: float, p99: float) -> dict[str, Any]:
        return {"target_qps": rate, "p99_ms": p99, "requests": 10, "errors": 0}

    assert openloop.qps_at_target([step(1, 20), step(2, 50), step(4, 90), step(8, 60)]) == 2
    assert openloop.qps_at_target([step(1, 120)]) == 0.0
    assert openloop.qps_at_target([]) == 0.0


def ok_handler(
    *, delay_s: float = 0.0, idle_timeout_s: float | None = None
) -> type[http.server.BaseHTTPRequestHandler]:
    """Answers every GET "ok" over kept-alive HTTP/1.1 connections, after ``delay_s``, one
    request at a time; closes a connection left idle ``idle_timeout_s`` without a word (as
    gunicorn does after its keep-alive)."""
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = idle_timeout_s

        def do_GET(self) -> None:
            with lock:
                time.sleep(delay_s)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def slow_server() -> Iterator[str]:
    """Answers each request after 50 ms, one at a time: at most 20 a second."""
    with serving(ok_handler(delay_s=0.05)) as url:
        yield url


def test_open_loop_latency_includes_the_queue(slow_server: str) -> None:
    paths = [f"/q{n}" for n in range(300)]
    light = openloop.run_step(slow_server, paths, rate=4, seconds=2, seed=1, clients=4)
    assert light["errors"] == 0
    assert light["requests"] >= 2
    # Three times what the server can do: requests queue, their latency (from the scheduled
    # time) grows far beyond their service time at the server.
    heavy = openloop.run_step(slow_server, paths, rate=60, seconds=2, seed=2, clients=12)
    assert heavy["p99_ms"] > 1000
    assert heavy["p99_ms"] > 4 * light["p99_ms"]
    assert heavy["waiting_p99_ms"] > 500
    steps, used = openloop.sweep(
        slow_server, paths, seconds=1, seed=3, rates=(4, 60, 100), clients=12, ceiling_ms=1000
    )
    assert [s["target_qps"] for s in steps] == [4, 60]  # 60 passed the ceiling: the end
    assert used == sum(s["requests"] for s in steps)
    assert openloop.qps_at_target(steps, 1000) == 4


@pytest.fixture
def closing_server() -> Iterator[str]:
    """Keeps a connection alive for 0.1 s of idleness only."""
    with serving(ok_handler(idle_timeout_s=0.1)) as url:
        yield url


def test_open_loop_reopens_a_connection_the_server_closed(closing_server: str) -> None:
    # Two requests a second over one client: every gap outlives the server's keep-alive, so
    # each request after the first finds its connection closed.
    paths = [f"/q{n}" for n in range(20)]
    step = openloop.run_step(closing_server, paths, rate=2, seconds=3, seed=4, clients=1)
    assert step["requests"] >= 3
    assert step["errors"] == 0, step["statuses"]
