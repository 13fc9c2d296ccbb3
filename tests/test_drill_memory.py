"""Memory drill (issue 12): Redis reaches its maxmemory while articles stream in.

A Redis of the drill's own (``scripts/services.sh`` with ``NEWSROOM_REDIS_MAXMEMORY=64mb``, a
free port) is the broker, the status store and the dead letters; real ingest (gunicorn) and a
real Celery worker; Elasticsearch is the shared test node under the drill's own index prefix
(the drill needs nothing special of it, and sparing a second node keeps it under ~3 minutes on
two cores). While two clients post ~2.5 KB articles
(the bytes that fill Redis are the ballast's; big articles would only slow enrichment down):

1. the queue outgrows its byte bound (``NEWSROOM_INGEST_MAX_QUEUED_BYTES``, 150 KB here): 429s;
2. ballast written beside the drill (as any other writer of the same Redis, or the pipeline's
   own growth, would) takes Redis to its maxmemory and keeps it there for ``FULL_S`` seconds:
   ingest answers 503 (its high-water check, or Redis's own ``OOM`` reply to its MULTI), never
   a 500; the worker meets ``OOM`` replies on its writes;
3. the ballast goes; everything drains.

Census: every article a 202 accepted is indexed once (none lost, none duplicated, none left in
the broker); one client posts each article once without retrying, and every article refused
to it (429/503) is nowhere: never accepted, so neither indexed nor dead-lettered, and its
status record, if any, says it was not queued and why.

    .venv/bin/python -m pytest tests/test_drill_memory.py -q
"""

from __future__ import annotations

import os
import random
import shutil
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from elasticsearch import Elasticsearch

from shared.schema import ArticleIn, to_payload
from tests.drill_support import (
    WORDS,
    Drill,
    PostResult,
    Stack,
    check,
    fault_hit,
    join_poster,
    settle,
    wait_for,
)

pytestmark = pytest.mark.drill

RUN_ID = uuid.uuid4().hex[:8]
MAXMEMORY = "64mb"
MAXMEMORY_BYTES = 64 * 1024 * 1024
SHARED_ES_PORT = int(os.environ.get("NEWSROOM_TEST_ELASTICSEARCH_URL", ":9200").rsplit(":", 1)[1])
RETRIED, ONCE = 120, 40  # articles of the client that retries, of the one that posts once
FULL_S = 12  # seconds Redis is held at its maxmemory
# About 50 articles waiting: one worker falls that far behind the posting at once.
QUEUED_BYTES_LIMIT = 150_000


class _RedisOnly(Stack):
    """The Redis of a ``Stack`` with a small maxmemory; its Elasticsearch is the shared node,
    which this stack never starts or stops."""

    def env(self) -> dict[str, str]:
        return super().env() | {"NEWSROOM_REDIS_MAXMEMORY": MAXMEMORY}

    def services(self, action: str, service: str | None = None) -> float:
        assert service == "redis", "the shared Elasticsearch is not this drill's to start or stop"
        return super().services(action, service)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state_dir = Path(tmp_path_factory.mktemp("drill-memory"))
    own = _RedisOnly(RUN_ID, state_dir, es_port=SHARED_ES_PORT)
    try:
        own.services("start", "redis")
        yield own
    finally:
        try:
            own.services("stop", "redis")
        finally:
            shutil.rmtree(state_dir, ignore_errors=True)


def _large_articles(tag: str, count: int, seed: int, size: int = 2500) -> list[dict[str, Any]]:
    """Distinct articles of about ``size`` characters (some of them Greek), sentences drawn at
    random so no two are near duplicates."""
    rng = random.Random(seed)
    articles = []
    for number in range(count):
        sentences: list[str] = []
        while sum(len(s) for s in sentences) < size:
            pick = {key: rng.choice(values) for key, values in WORDS.items()}
            sentences.append(
                f"The {pick['city']} {pick['body']} {pick['verb']} the {pick['thing']} on "
                f"{pick['day']} after {rng.randint(2, 999)} objections, said {pick['person']}."
            )
            if rng.random() < 0.1:
                sentences.append(f"Η επιτροπή ενέκρινε τον προϋπολογισμό {rng.randint(1, 99)}.")
        articles.append(
            {
                "title": f"Memory drill {tag} {number}: {sentences[0][:60]}",
                "body": " ".join(sentences),
                "source": f"Drill Wire {tag}",
            }
        )
    return articles


def _article_id(article: dict[str, Any]) -> str:
    payload = to_payload(
        ArticleIn.model_validate(article),
        content_type="application/json",
        received_at=datetime.now(UTC),
    )
    return str(payload["id"])


@dataclass
class OncePoster:
    """Posts each batch once, never again: what it was told of every article."""

    accepted: set[str] = field(default_factory=set)
    refused: dict[str, str] = field(default_factory=dict)  # id -> "<status> <title>"
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[BaseException] = field(default_factory=list)

    def run(self, url: str, articles: list[dict[str, Any]], batch: int, pause_s: float) -> None:
        session = requests.Session()
        try:
            for start in range(0, len(articles), batch):
                chunk = articles[start : start + batch]
                response = session.post(f"{url}/articles", json=chunk, timeout=30)
                self.statuses[response.status_code] += 1
                if response.status_code == 202:
                    self.accepted |= {item["id"] for item in response.json()["articles"]}
                elif response.status_code in (429, 503):
                    problem = response.json()
                    assert response.headers["Retry-After"], problem
                    assert problem["status"] == response.status_code, problem
                    for article in chunk:
                        self.refused[_article_id(article)] = (
                            f"{problem['status']} {problem['title']}"
                        )
                else:
                    raise AssertionError(f"{response.status_code}: {response.text[:300]}")
                time.sleep(pause_s)
        except BaseException as error:
            self.errors.append(error)
            raise


@dataclass
class Ballast:
    """Another writer of the drill's Redis (database 1): fills it to maxmemory and keeps it
    there (Redis frees memory as the worker drains the queue) until stopped, then deletes it."""

    client: redis.Redis
    keys: int = 0
    oom_replies: int = 0
    peak_fraction: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)

    def fraction(self) -> float:
        info = self.client.info("memory")
        used = int(info["used_memory"]) - int(info["mem_not_counted_for_evict"])
        self.peak_fraction = max(self.peak_fraction, used / MAXMEMORY_BYTES)
        return used / MAXMEMORY_BYTES

    def top_up(self) -> None:
        """Write ever smaller pieces until Redis refuses even a small one."""
        for size in (1024 * 1024, 64 * 1024, 4096, 256):
            while True:
                self.keys += 1
                try:
                    self.client.set(f"ballast:{self.keys}", b"x" * size)
                except redis.exceptions.OutOfMemoryError:
                    self.oom_replies += 1
                    break
        self.fraction()

    def hold(self, seconds: float) -> None:
        """Keep Redis at its maxmemory: whatever the worker frees by taking tasks off the queue
        is taken again at once (small pieces, so that every write of the pipeline bigger than
        a few hundred bytes meets an OOM reply)."""
        deadline = time.monotonic() + seconds
        self.top_up()
        while time.monotonic() < deadline:
            self.keys += 1
            try:
                self.client.set(f"ballast:{self.keys}", b"x" * 256)
            except redis.exceptions.OutOfMemoryError:
                self.oom_replies += 1
                time.sleep(0.005)
            if self.keys % 200 == 0:
                self.fraction()

    def release(self) -> None:
        self.client.flushdb()  # database 1 of the drill's own Redis: the ballast only


def test_redis_reaches_maxmemory_while_articles_stream_in(stack: Stack) -> None:
    drill = Drill(
        "memory",
        stack,
        0,
        ingest_max_queued_bytes=QUEUED_BYTES_LIMIT,
        ingest_max_queued_tasks=10_000,
        ingest_redis_memory_high_water=0.8,
        ingest_retry_after_s=1,
        ingest_task_batch_size=5,
    )
    es = Elasticsearch(drill.es_url, request_timeout=60)
    try:
        _run(drill)
    finally:
        drill.close()
        names = list(es.indices.get(index=f"{drill.prefix}-*", allow_no_indices=True))
        if names:
            es.indices.delete(index=",".join(names))


def _run(drill: Drill) -> None:
    drill.start_ingest()
    drill.start_worker("a", concurrency=2)
    retried = _large_articles("retried", RETRIED, seed=12)
    once = _large_articles("once", ONCE, seed=13)
    result = PostResult()
    # Phase 1: a stream faster than one worker: the queue outgrows its byte bound (429s).
    poster = drill.post_in_background(retried, result, batch=10)
    # (No other limit can answer 429 here: the task limit is far above what is posted.)
    wait_for("a 429 for queued bytes", lambda: result.statuses[429] > 0, 120, 0.2)
    # The worker's processes load their models first: Redis is filled once they index, so
    # their own writes meet it.
    wait_for("the worker to index a batch", lambda: drill.indexed_count() >= 5, 180, 0.2)
    # Phase 2: Redis at its maxmemory, held there, while both clients post.
    once_poster = OncePoster()
    once_thread = threading.Thread(
        target=once_poster.run, args=(drill.ingest_url, once, 5, 1.0), daemon=True
    )
    ballast = Ballast(redis.Redis.from_url(drill.stack.redis_url(1), socket_timeout=10))
    oom_before = _oom_errors(drill.redis)
    statuses_before = Counter(result.statuses)
    once_thread.start()
    ballast.hold(FULL_S)
    statuses_while_full = Counter(result.statuses) - statuses_before
    # Phase 3: room again.
    ballast.release()
    once_thread.join(timeout=120)
    assert not once_thread.is_alive(), "the one-shot poster is still posting"
    if once_poster.errors:
        raise AssertionError(f"one-shot poster: {once_poster.errors[0]!r}") from once_poster.errors[
            0
        ]
    join_poster(poster)
    oom_replies = _oom_errors(drill.redis) - oom_before
    worker_oom = _worker_oom_lines(drill)

    both = PostResult(
        accepted=result.accepted | once_poster.accepted,
        statuses=result.statuses + once_poster.statuses,
        unexpected=result.unexpected,
    )
    census, _ = settle(
        drill,
        both,
        RETRIED + ONCE,
        maxmemory=MAXMEMORY,
        queued_bytes_limit=QUEUED_BYTES_LIMIT,
        held_full_s=FULL_S,
        redis_peak_fraction=round(ballast.peak_fraction, 3),
        oom_replies_to_the_pipeline=oom_replies - ballast.oom_replies,
        oom_replies_to_the_ballast=ballast.oom_replies,
        worker_log_lines_with_oom=worker_oom,
        statuses_while_full={str(k): v for k, v in sorted(statuses_while_full.items())},
        once_accepted=len(once_poster.accepted),
        once_refused=len(once_poster.refused),
        once_refused_why=dict(Counter(once_poster.refused.values())),
    )
    # Every accepted article indexed once; none lost, duplicated, dead-lettered or left queued.
    check(drill, both, census)
    # Refused means never accepted: neither indexed nor dead-lettered, and a record, if there
    # is one, that says it was not queued and why.
    refused = set(once_poster.refused) - both.accepted
    assert not refused & (census.indexed | census.dead)
    for found in drill._records(refused).values():
        if found is not None:
            assert found["state"] == "failed", found
            assert found["error"].startswith("not queued: "), found
    fault_hit(
        drill,
        "Redis at maxmemory while articles stream in",
        queued_bytes_429=result.statuses[429],
        refused_503_while_full=statuses_while_full[503],
        oom_replies_to_the_pipeline=oom_replies - ballast.oom_replies,
        worker_log_lines_with_oom=worker_oom,
        reached_maxmemory=float(ballast.peak_fraction >= 0.98),
        refused_once=len(refused),
    )


def _oom_errors(client: redis.Redis) -> int:
    """How many commands Redis has refused with ``OOM`` since it started (INFO errorstats)."""
    found = client.info("errorstats").get("errorstat_OOM", {})
    return int(found.get("count", 0)) if isinstance(found, dict) else 0


def _worker_oom_lines(drill: Drill) -> int:
    """Lines of the worker's log where its own work (not kombu's housekeeping of queue
    bindings, which retries by itself) met an OOM reply: a batch retried for it, say."""
    return sum(
        1
        for proc in drill.procs
        if proc.name.endswith("-a")
        for line in proc.log().splitlines()
        if ("OutOfMemoryError" in line or "used memory > 'maxmemory'" in line)
        and "_kombu.binding" not in line
    )
