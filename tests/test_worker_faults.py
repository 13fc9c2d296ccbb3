"""Errors that are answers, and articles that kill their worker: each article still ends indexed
or dead-lettered with its reason, never dropped and never stuck "queued".

Real processes throughout: a Celery worker of its own (on a queue of its own) talks to the real
Elasticsearch through a fault-injecting proxy on loopback (tests/fault_proxy.py), or runs with
one fault of its own (tests/crashing_worker.py: an article that SIGKILLs its process in the
quotation step, as the OOM killer or a segfault in a model would).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.clients import get_elasticsearch, get_redis
from shared.deadletters import get_dead_letters
from shared.index import ensure_index
from shared.settings import Settings
from tests.conftest import RUN_ID, stop_worker
from tests.crashing_worker import CRASH_MARKER
from tests.fault_proxy import FaultProxy, Rule
from tests.worker_support import Lane, start_app_worker
from worker.enrich.registry import article_mappings

pytestmark = pytest.mark.usefixtures("services")

# Seconds before a lost delivery's articles are tried again in the crash tests (production: 30).
LOST_RETRY_DELAY_S = "5"
STORY = (
    "The harbour authority said on Monday that the new container terminal would open in "
    'spring. "We are ready for the ships," said Maria Lopez, the authority\'s director. '
    "Dock workers welcomed the decision, and the city council approved the budget for "
    "the access roads. Shipping lines expect the port to handle more cargo next year."
)


def _articles(tag: str, count: int) -> list[dict[str, Any]]:
    return [
        {
            "title": f"Terminal story {tag} {n}",
            "body": f"{STORY} Report {tag}-{n} from the harbour desk.",
            "url": f"https://news.example/{tag}/{n}",
            "language": "en",
        }
        for n in range(count)
    ]


@pytest.fixture(scope="module")
def index_ready(settings: Settings) -> None:
    ensure_index(get_elasticsearch(settings), settings, article_mappings())


def test_error_answers_from_elasticsearch_are_retried_or_dead_lettered(
    settings: Settings, index_ready: None, tmp_path: Path
) -> None:
    """429, 500, 503 and 400 answers to _bulk, _mget and the mapping call, in turn: each fault
    is served, the passing ones are retried, and every article ends indexed or, when a 400 met
    it alone, dead-lettered with that answer; nothing is left in the queue."""
    lane = Lane(settings, "es-faults")
    rules = [
        Rule("PUT", r"/_mapping", [503, 400]),
        Rule("POST", r"/_mget", [429, 500, 503, 400]),
        Rule("PUT", r"^/_bulk|^/[^/]+/_bulk", [500, 503, 400]),
        Rule("POST", r"^/_bulk|^/[^/]+/_bulk", [500, 503, 400]),
    ]
    with FaultProxy(settings.elasticsearch_url, rules) as proxy:
        env = lane.env(NEWSROOM_ELASTICSEARCH_URL=proxy.url)
        process = start_app_worker(env, tmp_path / "es-faults.log", "worker.celery_app")
        try:
            ids = lane.post(_articles(f"faults-{RUN_ID}", 12))
            ids += lane.post(_articles(f"faults-b-{RUN_ID}", 12))
            states = lane.wait_final(ids, timeout_s=240)
            # Each fault of the mapping and _mget rules was served; of the two _bulk rules
            # (the client sends PUT or POST), one carried the load.
            served = {(rule.method, rule.path): rule.served for rule in rules}
            assert served[("PUT", r"/_mapping")] == [503, 400]
            assert served[("POST", r"/_mget")] == [429, 500, 503, 400]
            bulk = [status for rule in rules if "_bulk" in rule.path for status in rule.served]
            assert sorted(bulk) == [400, 500, 503], served
        finally:
            stop_worker(process)
    log = (tmp_path / "es-faults.log").read_text()
    assert "Retry in" in log  # the transient answers went through the retry path
    assert "batch split into single articles" in log  # and a 400 to a batch through isolation
    # A 400 is final: an article that met one alone is dead-lettered with it (at most one per
    # injected 400); every other article is indexed.
    failed = sorted(i for i, s in states.items() if s["state"] == "failed")
    indexed = [i for i, s in states.items() if s["state"] == "indexed"]
    assert len(failed) + len(indexed) == len(ids)
    assert len(failed) <= 3, states
    for letter in get_dead_letters(get_redis(settings), settings.index_prefix, failed):
        assert letter.error.startswith("es_rejected: BadRequestError: 400"), letter.error
    assert len(get_dead_letters(get_redis(settings), settings.index_prefix, failed)) == len(failed)
    lane.wait_broker_empty(get_redis(settings))
    es = get_elasticsearch(settings)
    es.indices.refresh(index=settings.articles_alias)
    found = es.mget(index=settings.articles_alias, ids=indexed, source=False)["docs"]
    assert all(doc["found"] for doc in found)


def test_refused_for_good_is_dead_lettered_with_the_answer(
    settings: Settings, index_ready: None, tmp_path: Path
) -> None:
    """A 400 to every _bulk: the batch is split, each article refused alone, and each is
    dead-lettered with Elasticsearch's answer as its reason; none is lost or left queued."""
    lane = Lane(settings, "es-refused")
    bulk_refusals = [400] * 5  # the batch of 4, then each article alone
    rules = [
        Rule("PUT", r"^/_bulk|^/[^/]+/_bulk", list(bulk_refusals)),
        Rule("POST", r"^/_bulk|^/[^/]+/_bulk", list(bulk_refusals)),
    ]
    with FaultProxy(settings.elasticsearch_url, rules) as proxy:
        env = lane.env(NEWSROOM_ELASTICSEARCH_URL=proxy.url)
        process = start_app_worker(env, tmp_path / "es-refused.log", "worker.celery_app")
        try:
            ids = lane.post(_articles(f"refused-{RUN_ID}", 4))
            states = lane.wait_final(ids, timeout_s=120)
        finally:
            stop_worker(process)
    assert {s["state"] for s in states.values()} == {"failed"}, states
    letters = get_dead_letters(get_redis(settings), settings.index_prefix, ids)
    assert sorted(letter.id for letter in letters) == sorted(ids)
    for letter in letters:
        assert letter.error.startswith("es_rejected: BadRequestError: 400"), letter.error
        assert "injected 400 (mapper_parsing_exception)" in letter.error
    lane.wait_broker_empty(get_redis(settings))


@pytest.fixture
def crashing_worker(
    settings: Settings, tmp_path: Path
) -> Iterator[tuple[Lane, subprocess.Popen[bytes], Path]]:
    lane = Lane(settings, "crash")
    log_path = tmp_path / "crash.log"
    # A lost delivery's articles are tried again after 5 s, not production's 30: the pool's
    # replacement for the killed process loads its models meanwhile, and the retry waits for
    # a free process anyway (the count of deaths below is per delivery, whatever the delay).
    env = lane.env(NEWSROOM_LOST_RETRY_DELAY_S=LOST_RETRY_DELAY_S)
    process = start_app_worker(env, log_path, "tests.crashing_worker")
    yield lane, process, log_path
    stop_worker(process)


def test_an_article_that_kills_its_worker_is_found_and_dead_lettered(
    settings: Settings,
    index_ready: None,
    crashing_worker: tuple[Lane, subprocess.Popen[bytes], Path],
) -> None:
    """One article in a batch of six kills its worker process each time it is enriched, and so
    does an article posted alone: both are dead-lettered, with the step they died in, after a
    bounded number of deliveries; the five others of the batch are indexed."""
    lane, process, log_path = crashing_worker
    batch = _articles(f"crash-{RUN_ID}", 6)
    batch[3]["body"] += f" {CRASH_MARKER}"
    lone = _articles(f"crash-lone-{RUN_ID}", 1)
    lone[0]["body"] += f" {CRASH_MARKER}"
    batch_ids = lane.post(batch)
    lone_ids = lane.post(lone)
    started = time.monotonic()
    states = lane.wait_final(batch_ids + lone_ids, timeout_s=300)
    took = time.monotonic() - started
    killers = {batch_ids[3], lone_ids[0]}
    for article_id, state in states.items():
        if article_id in killers:
            assert state["state"] == "failed", state
        else:
            assert state["state"] == "indexed", state
    letters = get_dead_letters(get_redis(settings), settings.index_prefix, sorted(killers))
    assert len(letters) == 2
    for letter in letters:
        assert letter.error.startswith("worker_lost:"), letter.error
        assert "lost with the worker process 2 time(s)" in letter.error, letter.error
        assert "find_quotes" in letter.error, letter.error
    log = log_path.read_text()
    deaths = log.count("exited with 'signal 9 (SIGKILL)'")
    # The batch's killer: with its batch, then alone twice (its batch-mates start their count
    # again); the lone killer: twice. Each dead letter says how often it was lost alone.
    assert deaths == 5, log[-4000:]
    assert process.poll() is None  # the worker itself lives on
    lane.wait_broker_empty(get_redis(settings))
    print(f"killers dead-lettered in {took:.1f} s after {deaths} worker deaths")


def test_hard_time_limit_comes_back_and_is_dead_lettered(
    settings: Settings, index_ready: None, tmp_path: Path
) -> None:
    """An article whose quotation step hangs deaf to the soft limit's signal: the hard time
    limit kills the process, the message is given back (not acknowledged, which would lose
    it), and after its lost deliveries the article is dead-lettered with the step; the article
    posted beside it is indexed."""
    lane = Lane(settings, "hard-limit")
    env = lane.env(
        NEWSROOM_TASK_SOFT_TIME_LIMIT_S="4",
        NEWSROOM_TASK_TIME_LIMIT_S="6",
        CRASHING_WORKER_HANG_S="60",
        NEWSROOM_LOST_RETRY_DELAY_S=LOST_RETRY_DELAY_S,
    )
    log_path = tmp_path / "hard.log"
    process = start_app_worker(env, log_path, "tests.crashing_worker")
    try:
        articles = _articles(f"hang-{RUN_ID}", 2)
        articles[0]["body"] += f" {CRASH_MARKER}"
        ids = lane.post(articles)
        states = lane.wait_final(ids, timeout_s=180)
    finally:
        stop_worker(process)
    assert states[ids[0]]["state"] == "failed", states
    assert states[ids[1]]["state"] == "indexed", states
    (letter,) = get_dead_letters(get_redis(settings), settings.index_prefix, ids[:1])
    assert letter.error.startswith("worker_lost:"), letter.error
    assert "find_quotes" in letter.error
    assert "Hard time limit (6" in log_path.read_text()
    lane.wait_broker_empty(get_redis(settings))
