"""Drill: hostile articles in a live stream (issue 12's bar).

A real worker (two pool processes) streams ordinary articles, first alone (the quiet phase),
then with hostile articles posted among them: 1.9 MB of whitespace around a few words, 1.9 MB
of ``a.`` after a quotation, a 1.9-million-character single word, a 5 MB HTML page with no
text, and an article that kills its worker process each time it is enriched
(tests/crashing_worker.py). Each hostile article must end indexed or dead-lettered with its
reason within 5 minutes; the stream's freshness p99 (posted -> indexed) must stay within 2x
the quiet phase's; nothing lost, nothing indexed twice, nothing left in the broker.

Figures go to tests/artifacts/drills.json ("hostile_input") and docs/RELIABILITY.md.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from shared.clients import get_elasticsearch, get_redis
from shared.deadletters import get_dead_letters
from shared.index import ensure_index
from shared.settings import Settings
from shared.status import get_states
from tests.conftest import RUN_ID, stop_worker, wait_until
from tests.crashing_worker import CRASH_MARKER
from tests.drill_support import LOGS, make_articles, record
from tests.worker_support import Lane, start_app_worker
from worker.enrich.registry import article_mappings

pytestmark = [pytest.mark.drill, pytest.mark.usefixtures("services")]

RATE_PER_S = 4.0  # ordinary articles posted per second, one per request
QUIET = 150
STREAM = 1000
HOSTILE_AFTER_S = 20.0  # into the stream
HOSTILE_DEADLINE_S = 300.0
SIZE = 1_900_000


def _hostile(tag: str) -> dict[str, dict[str, Any]]:
    quotation = 'The minister said: "We will build the terminal by spring." '
    return {
        "whitespace": {
            "title": f"Whitespace {tag}",
            # Inside the text: ingest strips what surrounds it.
            "body": "The harbour"
            + " " * (SIZE // 2)
            + "terminal opens"
            + "\n \t" * (SIZE // 6)
            + "in spring.",
            "language": "en",
        },
        "a_dots": {
            "title": f"Dots {tag}",
            "body": quotation + "a." * ((SIZE - len(quotation)) // 2),
            "language": "en",
        },
        "one_word": {"title": f"One word {tag}", "body": "x" * SIZE, "language": "en"},
        "empty_html": {
            "html": "<html><body>" + "<div></div>" * (4_900_000 // 11) + "</body></html>",
            "url": f"https://hostile.example/{tag}/empty",
        },
        "killer": {
            "title": f"Killer {tag}",
            "body": f"{quotation} The council agreed. {CRASH_MARKER}",
            "language": "en",
        },
    }


def _stream(lane: Lane, articles: list[dict[str, Any]], posted: dict[str, float]) -> None:
    """Post one article per request at RATE_PER_S, recording when each was accepted."""
    started = time.monotonic()
    for number, article in enumerate(articles):
        pause = started + number / RATE_PER_S - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        sent = time.time()
        (article_id,) = lane.post([article])
        posted[article_id] = sent


def _freshness(settings: Settings, posted: dict[str, float]) -> list[float]:
    ids = list(posted)
    records = get_states(get_redis(settings), settings.index_prefix, ids)
    seconds = []
    for article_id, found in zip(ids, records, strict=True):
        assert found is not None, article_id
        assert found["state"] == "indexed", (article_id, found)
        indexed_at = datetime.fromisoformat(found["updated_at"]).timestamp()
        seconds.append(indexed_at - posted[article_id])
    return seconds


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


@pytest.fixture
def crashing_lane(settings: Settings) -> Iterator[tuple[Lane, Path]]:
    """The deployment's shape (docker-compose.yml, scripts/run.sh): a worker on the live queue
    (two processes here) and one on the bulk queue (one process), where ingest sends articles
    over NEWSROOM_INGEST_HEAVY_ARTICLE_CHARS and the worker sends suspects."""
    ensure_index(get_elasticsearch(settings), settings, article_mappings())
    lane = Lane(settings, "hostile")
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / "hostile-worker.log"
    process = start_app_worker(lane.env(), log_path, "tests.crashing_worker", queues=[lane.queue])
    bulk = start_app_worker(
        lane.env(),
        LOGS / "hostile-bulk-worker.log",
        "tests.crashing_worker",
        queues=[lane.bulk_queue],
        concurrency=1,
    )
    # Both pool processes warm (their first articles load what warm-up does not), so the
    # quiet phase measures a running pipeline, not a starting one.
    warm = [
        i for article in make_articles(f"warm-{RUN_ID}", 20, seed=11) for i in lane.post([article])
    ]
    lane.wait_final(warm, timeout_s=120)
    yield lane, log_path
    assert process.poll() is None, "the worker itself must live through the drill"
    assert bulk.poll() is None
    stop_worker(process)
    stop_worker(bulk)


def test_hostile_articles_in_a_live_stream(
    settings: Settings, crashing_lane: tuple[Lane, Path]
) -> None:
    lane, _log = crashing_lane
    redis_client = get_redis(settings)

    quiet_posted: dict[str, float] = {}
    _stream(lane, make_articles(f"quiet-{RUN_ID}", QUIET, seed=12), quiet_posted)
    lane.wait_final(list(quiet_posted), timeout_s=120)
    quiet = _freshness(settings, quiet_posted)

    stream_posted: dict[str, float] = {}
    errors: list[BaseException] = []

    def poster() -> None:
        try:
            _stream(lane, make_articles(f"stream-{RUN_ID}", STREAM, seed=13), stream_posted)
        except BaseException as error:  # re-raised in the test below
            errors.append(error)

    thread = threading.Thread(target=poster, name="hostile-drill-poster")
    thread.start()
    time.sleep(HOSTILE_AFTER_S)
    hostile_ids: dict[str, str] = {}
    hostile_posted: dict[str, float] = {}
    for name, article in _hostile(RUN_ID).items():
        sent = time.time()
        (hostile_ids[name],) = lane.post([article])
        hostile_posted[name] = sent

    def hostile_final() -> dict[str, dict[str, Any]] | None:
        states = lane.states(list(hostile_ids.values()))
        return states if all(s["state"] in {"indexed", "failed"} for s in states.values()) else None

    hostile_states: dict[str, dict[str, Any]] = wait_until(
        hostile_final, timeout_s=HOSTILE_DEADLINE_S, interval_s=1.0
    )
    hostile_took = {
        name: datetime.fromisoformat(hostile_states[i]["updated_at"]).timestamp()
        - hostile_posted[name]
        for name, i in hostile_ids.items()
    }
    thread.join()
    assert not errors, errors
    lane.wait_final(list(stream_posted), timeout_s=240)
    stream = _freshness(settings, stream_posted)

    # Each hostile article ended within the deadline, indexed or dead-lettered with its reason.
    assert max(hostile_took.values()) < HOSTILE_DEADLINE_S, hostile_took
    outcome: dict[str, str] = {}
    for name, article_id in hostile_ids.items():
        state = hostile_states[article_id]["state"]
        if state == "failed":
            (letter,) = get_dead_letters(redis_client, settings.index_prefix, [article_id])
            outcome[name] = f"dead-lettered: {letter.error}"
        else:
            outcome[name] = "indexed"
    assert outcome["killer"].startswith("dead-lettered: worker_lost:"), outcome
    assert "find_quotes" in outcome["killer"]
    assert outcome["empty_html"].startswith("dead-lettered: enrichment step extract_html"), outcome
    # The big texts are indexed, not dead-lettered by a time limit: read in bounded parts, with
    # the cuts recorded.
    for name in ("whitespace", "a_dots", "one_word"):
        assert outcome[name] == "indexed", outcome
        doc = get_elasticsearch(settings).get(
            index=settings.articles_alias, id=hostile_ids[name], source_includes=["enrichment"]
        )["_source"]
        assert doc["enrichment"]["truncated"], (name, doc)

    # Nothing lost, nothing twice: every ordinary article is in the index exactly once.
    es = get_elasticsearch(settings)
    es.indices.refresh(index=settings.articles_alias)
    ordinary = list(quiet_posted) + list(stream_posted)
    found = es.mget(index=settings.articles_alias, ids=ordinary, source=False)["docs"]
    assert all(doc["found"] for doc in found)
    for tag in (f"quiet-{RUN_ID}", f"stream-{RUN_ID}"):
        count = es.count(
            index=settings.articles_alias, query={"term": {"source": f"Drill Wire {tag}"}}
        )["count"]
        assert count == (QUIET if tag.startswith("quiet") else STREAM)
    lane.wait_broker_empty(redis_client)

    quiet_p99, stream_p99 = _p99(quiet), _p99(stream)
    # The slow ones of the stream, by when they were posted (seconds after the stream began):
    # where a failure of the bar comes from.
    stream_start = min(stream_posted.values())
    slow = sorted(
        (round(posted - stream_start, 1), round(took, 2))
        for posted, took in zip(stream_posted.values(), stream, strict=True)
        if took > 2 * quiet_p99
    )
    figures = {
        "rate_per_s": RATE_PER_S,
        "quiet_articles": QUIET,
        "stream_articles": STREAM,
        "quiet_freshness_p50_s": round(statistics.median(quiet), 3),
        "quiet_freshness_p99_s": round(quiet_p99, 3),
        "stream_freshness_p50_s": round(statistics.median(stream), 3),
        "stream_freshness_p99_s": round(stream_p99, 3),
        "p99_ratio": round(stream_p99 / quiet_p99, 2),
        "hostile_seconds_to_final_state": {k: round(v, 1) for k, v in hostile_took.items()},
        "hostile_outcome": {k: v[:200] for k, v in outcome.items()},
        "hostile_posted_at_s": {k: round(v - stream_start, 1) for k, v in hostile_posted.items()},
        "slow_stream_articles": slow[:60],
    }
    record("hostile_input", figures)
    print(figures)
    assert stream_p99 <= 2 * quiet_p99, figures
