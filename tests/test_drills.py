"""Fault drills (GitHub issues 5 and 12): nothing accepted is lost or duplicated.

Each drill posts at least 1,000 articles to a real ingest (gunicorn), breaks something while real
Celery workers enrich and index them, then takes a census: the ids ingest accepted (its 202s)
must equal the ids indexed plus the ids dead-lettered, with one document
per id, its ``_version`` the one its payload carries and its revision 1 (no replay counted as a
correction), and every article's status saying where it ended. Then ``check`` asserts which
articles were indexed and which dead-lettered and why (the drill says which it expects: an
article dead-lettered instead of indexed fails it), that the broker holds nothing of the drill
(queues, ``unacked``), and ``fault_hit`` that the fault reached the pipeline (worker retries,
redelivered tasks, Elasticsearch's refusals...): a drill whose fault missed proves nothing and
fails. The figures go to tests/artifacts/drills.json; docs/RELIABILITY.md explains them.

The drills run on a Redis and an Elasticsearch of their own (``scripts/services.sh`` with a
state directory under /var/lib/newsroom/drills-<run> and free ports), never the shared ones.
They run in the order that needs the fewest Elasticsearch restarts (the 429 drill needs a node
started with a tiny write pool; the outage drill restarts it with the defaults).
``NEWSROOM_SOAK=1`` keeps Elasticsearch stopped for the issue's full 60 s instead of 5 s.

    .venv/bin/python -m pytest tests/test_drills.py -q
    NEWSROOM_SOAK=1 .venv/bin/python -m pytest tests/test_drills.py -q
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.accounts import (
    add_user,
    authenticate_token,
    check_password,
    create_token,
    revoke_token,
)
from shared.article import external_version
from shared.deadletters import get_dead_letters
from shared.schema import ArticleIn, to_payload
from tests.drill_support import (
    Drill,
    PostResult,
    QueueTap,
    Stack,
    check,
    fault_hit,
    join_poster,
    make_articles,
    newest_version_problems,
    record,
    settle,
    wait_for,
)

pytestmark = pytest.mark.drill

RUN_ID = uuid.uuid4().hex[:8]
SOAK = os.environ.get("NEWSROOM_SOAK") == "1"
ARTICLES = 1000
# The soak stops Elasticsearch for 60 s; CI for 5 s, on top of the ~20-30 s it takes to
# start again, so the workers still see a 30-40 s outage and several rounds of retries.
ES_STOPPED_S = 60 if SOAK else 5
# Drill 1 kills a worker's main process: the batches it held stay in Redis ("unacked") until the
# visibility timeout, when another worker queues them again. The drill shortens the timeout
# (production: NEWSROOM_BROKER_VISIBILITY_TIMEOUT_S=3600) so that happens within the drill,
# and the task time limits with it (they must stay below it: shared/settings.py). The timeout
# also stays above the countdown of a lost delivery's retry (NEWSROOM_LOST_RETRY_DELAY_S,
# 30 s), which a worker holds in "unacked" meanwhile.
KILL_VISIBILITY_TIMEOUT_S = 45
KILL_TIME_LIMITS = {"task_soft_time_limit_s": 25, "task_time_limit_s": 35}
# Static node settings (elasticsearch.yml or -E only): one write thread, one queued write.
TINY_WRITE_POOL = "-Ethread_pool.write.size=1 -Ethread_pool.write.queue_size=1"
FIRST_DRILL = "test_bulk_rejections_429"
MODULE = "tests/test_drills.py::"

MakeDrill = Callable[..., Drill]


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The drills' own Redis and Elasticsearch; stopped and deleted at the end."""
    if os.geteuid() == 0:
        # Elasticsearch runs as the user `newsroom`, which cannot reach /root or /tmp/pytest-*.
        state_dir = Path("/var/lib/newsroom") / f"drills-{RUN_ID}"
    else:
        state_dir = tmp_path_factory.mktemp("drills")
    drills = [item.name for item in request.session.items if item.nodeid.startswith(MODULE)]
    # Start Elasticsearch the way the first drill wants it, saving a restart.
    first_options = TINY_WRITE_POOL if drills and drills[0] == FIRST_DRILL else ""
    drills_stack = Stack(RUN_ID, state_dir, es_extra_opts=first_options)
    try:
        drills_stack.services("start")
        yield drills_stack
    finally:
        try:
            drills_stack.services("stop")
        finally:
            shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture
def make_drill(stack: Stack) -> Iterator[MakeDrill]:
    made: list[Drill] = []

    def make(name: str, db: int, **settings: Any) -> Drill:
        drill = Drill(name, stack, db, **settings)
        made.append(drill)
        return drill

    yield make
    for drill in made:
        drill.close()


def test_bulk_rejections_429(make_drill: MakeDrill, stack: Stack) -> None:
    """Drill 4: Elasticsearch with one write thread and a write queue of one refuses bulks (429)."""
    stack.use_es_options(TINY_WRITE_POOL)
    rejected_before = stack.es_write_rejections()
    # Four shards: every bulk fans out to four shard-level writes competing for two slots.
    drill = make_drill("4-bulk-429", 4, index_shards=4)
    drill.start_ingest()
    result = drill.post(make_articles("bulk", ARTICLES, seed=4), PostResult())
    drill.start_worker("a", concurrency=2)
    census, figures = settle(drill, result, ARTICLES, index_shards=4, es_options=TINY_WRITE_POOL)
    rejections = stack.es_write_rejections() - rejected_before
    record(drill.name, figures | {"es_write_rejections": rejections})
    check(drill, result, census)  # every article indexed, none dead-lettered, broker empty
    # The refusals reached the workers' bulks: Elasticsearch counted them (the bulk helper
    # sends refused items again, so the workers' own tallies may show none).
    fault_hit(
        drill, "write pool of one thread: bulks refused (429)", es_write_rejections=rejections
    )


def test_elasticsearch_stopped_during_ingest(make_drill: MakeDrill, stack: Stack) -> None:
    """Drill 3: stop Elasticsearch while articles are posted and indexed; start it again."""
    stack.use_es_options("")
    drill = make_drill("3-es-outage-soak" if SOAK else "3-es-outage", 3)
    drill.start_ingest()
    articles = make_articles("es", ARTICLES, seed=3)
    result = drill.post(articles[:500], PostResult())
    drill.start_worker("a")
    wait_for("50 indexed", lambda: drill.indexed_count() >= 50, 120)
    poster = drill.post_in_background(articles[500:], result, batch=20, pause_s=0.5)
    time.sleep(2)
    stopping = time.monotonic()
    stack.services("stop", "elasticsearch")
    accepted_at_stop = len(result.accepted)
    time.sleep(ES_STOPPED_S)
    accepted_while_down = len(result.accepted) - accepted_at_stop
    stack.services("start", "elasticsearch")
    unavailable_s = time.monotonic() - stopping
    join_poster(poster)
    census, _ = settle(
        drill,
        result,
        ARTICLES,
        es_stopped_s=ES_STOPPED_S,
        es_unavailable_s=round(unavailable_s, 1),
        accepted_while_es_down=accepted_while_down,
        soak=SOAK,
    )
    # Nothing dead-lettered: the outage (~30-40 s) is shorter than the retries (~3 min).
    check(drill, result, census)
    # The outage reached the retry path: batches met it and were retried whole, as the workers'
    # logs ("retry: Retry in") and the batch_retries counter (task_retry signal) both say.
    fault_hit(
        drill,
        f"Elasticsearch stopped {ES_STOPPED_S} s during ingest",
        accepted_while_es_down=accepted_while_down,
        task_retries_logged=drill.worker_tally()["task_retries"],
        batch_retries_counted=drill.metric_totals()["batch_retries"],
    )


def test_worker_killed_mid_batch(make_drill: MakeDrill, stack: Stack) -> None:
    """Drill 1: kill -9 a pool child doing a batch, later the worker's main process; start a new
    worker, then SIGTERM all its processes at once (kombu#1836); start another."""
    stack.use_es_options("")
    drill = make_drill(
        "1-kill-worker",
        1,
        broker_visibility_timeout_s=KILL_VISIBILITY_TIMEOUT_S,
        **KILL_TIME_LIMITS,
    )
    drill.start_ingest()
    # Everything is queued first, so both kills hit a worker in the middle of the backlog.
    result = drill.post(make_articles("kill", ARTICLES, seed=1), PostResult())
    first = drill.start_worker("a")
    wait_for("100 indexed", lambda: drill.indexed_count() >= 100, 120)
    held_by_child = drill.held_tasks()
    os.kill(first.children()[0], signal.SIGKILL)
    # Proof that the child was doing a batch: the main process reports it lost mid-task.
    wait_for(
        "the main process to see its child die",
        lambda: "exited prematurely: signal 9" in first.log(),
        30,
    )
    wait_for("400 indexed", lambda: drill.indexed_count() >= 400, 120)
    orphans = first.children()
    first.kill(signal.SIGKILL)
    first.process.wait(timeout=10)
    # The pool children die with their parent (prefork sets PR_SET_PDEATHSIG).
    wait_for(
        "the pool children to die",
        lambda: not any(Path(f"/proc/{pid}").exists() for pid in orphans),
        10,
    )
    held_ids = drill.held_tasks()
    held = len(held_ids)
    # Until the visibility timeout passes, those batches are invisible (in Redis, not lost).
    time.sleep(KILL_VISIBILITY_TIMEOUT_S + 1)
    second = drill.start_worker("b", concurrency=1)
    # kombu#1836: SIGTERM to every process of the worker at once (systemd's default stop, a
    # container runtime signalling the group), so the children die mid-batch during the warm
    # shutdown.
    wait_for("700 indexed", lambda: drill.indexed_count() >= 700, 120)
    os.killpg(second.pid, signal.SIGTERM)
    second.process.wait(timeout=60)
    held_after_sigterm = drill.broker_backlog()["unacked"]
    children_lost = second.log().count(
        "raised error: WorkerLostError('Worker exited prematurely: signal 15"
    )
    assert children_lost > 0, "SIGTERM hit no batch in progress: the drill proved nothing"
    time.sleep(KILL_VISIBILITY_TIMEOUT_S + 1)
    drill.start_worker("c")
    census, _ = settle(
        drill,
        result,
        ARTICLES,
        # Batches given back after the visibility timeout: kombu's sweep may take a while.
        in_flight_s=150,
        batches_held_by_killed_main_process=held,
        children_lost_to_group_sigterm=children_lost,
        batches_left_unacked_by_group_sigterm=held_after_sigterm,
        visibility_timeout_s=KILL_VISIBILITY_TIMEOUT_S,
    )
    check(drill, result, census)
    # Every batch the killed main process held was given back and finished by a later worker
    # (same task id); so was one of those the killed child held (its batch was rejected back);
    # and no batch was received without being finished.
    later = drill.task_events([proc for proc in drill.procs if proc.name.endswith(("-b", "-c"))])
    everywhere = drill.task_events()
    finished_later = {t for t in held_ids if t in later and later[t]["succeeded"]}
    redelivered = {t for t, seen in everywhere.items() if seen["received"] >= 2}
    unfinished = sorted(t for t, seen in everywhere.items() if not seen["succeeded"])
    assert finished_later == held_ids, (
        f"held by the killed worker, never finished: {held_ids - finished_later}"
    )
    assert not unfinished, f"tasks received and never finished: {unfinished[:5]}"
    fault_hit(
        drill,
        "kill -9 a pool child, then the main process; SIGTERM to a worker's group",
        child_batch_given_back=len(held_by_child & redelivered),
        batches_held_by_killed_main_process=held,
        held_batches_finished_by_later_workers=len(finished_later),
        children_lost_to_group_sigterm=children_lost,
        tasks_redelivered=len(redelivered),
    )


def test_redis_restarted_while_articles_are_queued(make_drill: MakeDrill, stack: Stack) -> None:
    """Drill 2: SIGKILL Redis (AOF everysec) with a backlog queued, batches in progress and
    ingest still posting; start it again."""
    stack.use_es_options("")
    drill = make_drill("2-redis-restart", 2)
    # Accounts live in the same Redis: a user, a token, and a token revoked, all written long
    # before the crash, must come back as they were (checked after it).
    user, password = add_user(drill.redis, drill.settings, "drill-editor", "editor")
    _, secret = create_token(drill.redis, drill.settings, user.name, "user", "drill")
    revoked, revoked_secret = create_token(drill.redis, drill.settings, user.name, "user", "old")
    revoke_token(drill.redis, drill.settings, revoked.id)
    drill.start_ingest()
    articles = make_articles("redis", ARTICLES, seed=2)
    # A backlog first, then a worker, then more posts still arriving when Redis dies.
    result = drill.post(articles[:500], PostResult())
    drill.start_worker("a")
    wait_for("50 indexed", lambda: drill.indexed_count() >= 50, 120)
    poster = drill.post_in_background(articles[500:], result, batch=20, pause_s=0.5)
    time.sleep(2)
    backlog = drill.broker_backlog()
    accepted_before = len(result.accepted)
    stack.kill_redis()
    time.sleep(2)
    stack.services("start", "redis")
    join_poster(poster)
    census, _ = settle(
        drill,
        result,
        ARTICLES,
        tasks_queued_when_killed=backlog["queued"],
        accepted_before_kill=accepted_before,
    )
    check(drill, result, census)
    assert check_password(drill.redis, drill.settings, user.name, password) == user
    assert authenticate_token(drill.redis, drill.settings, secret) is not None
    assert authenticate_token(drill.redis, drill.settings, revoked_secret) is None
    # The crash reached both sides: ingest refused requests while Redis was away (503, or the
    # connection cut), each worker's consumer lost the broker and came back, and there was a
    # backlog in Redis to survive the crash (queued tasks, ingest still posting).
    fault_hit(
        drill,
        "SIGKILL Redis with a backlog queued; start it 2 s later",
        tasks_queued_when_killed=backlog["queued"],
        articles_still_to_post=ARTICLES - accepted_before,
        ingest_refused_or_cut=result.statuses[503] + result.connection_errors,
        worker_lost_the_broker=drill.log_count("Connection to broker lost"),
    )


def _poison(count: int) -> list[dict[str, Any]]:
    """Pages with no main text: the worker's HTML extraction refuses them, every time."""
    return [
        {
            "html": f"<html><head><title>Poison {n}</title></head><body></body></html>",
            "source": "Drill Poison",
        }
        for n in range(count)
    ]


def _ids(articles: list[dict[str, Any]]) -> set[str]:
    now = datetime.now(UTC)
    return {
        to_payload(ArticleIn.model_validate(a), content_type="application/json", received_at=now)[
            "id"
        ]
        for a in articles
    }


def test_poison_articles_end_in_dead_letters(make_drill: MakeDrill, stack: Stack) -> None:
    """Drill 5: articles that always fail enrichment are dead-lettered after N tries, with the
    reason; the others are indexed without waiting for them."""
    stack.use_es_options("")
    drill = make_drill("5-poison", 5)
    good = make_articles("poison", ARTICLES, seed=5)
    poison = _poison(10)
    articles = [*good]
    for n, page in enumerate(poison):
        articles.insert(n * 97, page)  # spread over many batches
    drill.start_ingest()
    result = drill.post(articles, PostResult())
    drill.start_worker("a")
    census, _ = settle(drill, result, len(articles), poison_articles=len(poison))
    poison_ids = _ids(poison)
    why = re.escape("the HTML page has no main text")
    check(
        drill,
        result,
        census,
        indexed=_ids(good),
        dead_lettered=dict.fromkeys(poison_ids, why),
    )
    letters = get_dead_letters(drill.redis, drill.prefix, sorted(poison_ids))
    assert len(letters) == len(poison)
    for letter in letters:
        assert letter.attempts == drill.settings.article_max_attempts, letter.summary()
        assert letter.payload["html"].startswith("<html>"), letter.summary()
    # Each poison article went round the retry path: a failed attempt per try, the retries
    # queued again, the last one dead-lettered.
    totals = drill.metric_totals()
    tries = len(poison) * drill.settings.article_max_attempts
    assert totals["failed_enrichment"] >= tries, totals
    assert totals["queued_retry"] >= tries - len(poison), totals
    fault_hit(
        drill,
        f"{len(poison)} pages with no main text among {len(good)} articles",
        failed_enrichment_attempts=totals["failed_enrichment"],
        retries_queued=totals["queued_retry"],
        dead_lettered=totals["dead_lettered"],
    )


def test_same_articles_posted_three_times_at_once(make_drill: MakeDrill, stack: Stack) -> None:
    """Drill 6: three clients post the same 1,000 articles concurrently: one document each,
    revision 1, the newest version kept."""
    stack.use_es_options("")
    drill = make_drill("6-concurrent", 6)
    drill.start_ingest()
    drill.start_worker("a")
    articles = make_articles("triple", ARTICLES, seed=6)
    result = PostResult()
    # The tap reads every task message ingest queues: each accepted version's received_at,
    # which ingest's answer does not give.
    with QueueTap(drill) as tap:
        posters = [drill.post_in_background(articles, result, batch=100) for _ in range(3)]
        for poster in posters:
            join_poster(poster)
        assert result.accepted == _ids(articles)
        assert result.statuses[202] == 3 * ARTICLES // 100
        census, _ = settle(drill, result, ARTICLES, posts=3 * ARTICLES)
    assert not tap.errors, tap.errors
    check(drill, result, census)
    # The tap saw exactly the accepted versions: three of each article, each received while
    # one of the 202 requests that held it was in flight.
    counts = {i: len(tap.versions.get(i, ())) for i in result.accepted}
    assert set(counts.values()) == {3}, {
        n: sum(1 for c in counts.values() if c == n) for n in set(counts.values())
    }
    outside = []
    slack_s = 0.05
    for post in result.posts:
        for article_id in post.ids:
            times = [external_version(v) / 1e6 for v in tap.versions[article_id]]
            if not any(post.sent_at - slack_s <= t <= post.answered_at + slack_s for t in times):
                outside.append(article_id)
    assert not outside, f"{len(outside)} accepted posts with no queued version in their window"
    # The newest accepted version won: the indexed document is the one received last.
    stale = newest_version_problems(census, tap.versions)
    assert not stale, f"{len(stale)} documents hold an older version: {stale[:3]}"
    # Every copy reached a worker and was decided: written, or refused as superseded.
    totals = drill.metric_totals()
    decided = totals["indexed"] + totals["superseded"]
    assert decided >= 3 * ARTICLES, f"only {decided} of {3 * ARTICLES} copies written or refused"
    fault_hit(
        drill,
        "the same 1,000 articles posted by three clients at once",
        versions_queued=sum(counts.values()),
        copies_written_or_superseded=decided,
    )
