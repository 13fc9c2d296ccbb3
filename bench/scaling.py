"""``python -m bench.scaling``: the pipeline with 1 and with 2 worker processes, and freshness
with the bulk queue idle and busy, in one run on one stack (issue 18 item 6).

The stack is scripts/run.sh's: gunicorn ingest, worker 0 on the live queue, worker 1 on the
bulk and live queues (one process each, one per core). Both are started and warmed once:

- **1 vs 2 workers**: a round posts ``articles`` corpus articles (NDJSON, as fast as ingest
  takes them) and times until every one is indexed. The 1-worker arm posts them to the *bulk*
  queue, which only worker 1 reads; the 2-worker arm to the live queue, which both read. The
  arms alternate (ABBA, ``bench.stats.interleave_calls``), each with its machine share, and a
  round of each arm posts replicas of the *same* articles (two variants: the same lengths, the
  same enrichment work), so ``workers_2_over_1`` is a per-round ratio of one run. On 2 cores
  shared with Redis, Elasticsearch and ingest, 2.0 is out of reach; ``cpu_bound`` says what
  the cores allowed.
- **Freshness, bulk queue busy**: rounds alternate between freshness as bench/pipeline.py
  measures it (one article at a time at half the 2-worker rate, POST to found by a search) with
  the bulk queue empty, and the same with a backlog posted to the bulk queue just before
  (``backlog_size``: worker 1's measured rate over the round and a margin, plus the two tasks
  it holds; it stays busy for the whole round, checked: ``bulk_articles_left`` > 0 at the
  round's end). After a busy round the rest of the backlog is indexed
  before the next round begins (``bulk_drain_s``). The live articles then
  share worker 1 with archive loads, and have worker 0 to themselves.

Figures (``bench.stats.Run``: median, 95% interval, machine share, commit):
``pipeline_aps_1_worker``, ``pipeline_aps_2_workers``, ``workers_2_over_1``;
``freshness_idle_p99_s``, ``freshness_busy_bulk_p99_s`` (p50s beside), ``freshness_busy_over_idle``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import corpus, report
from bench.housekeeping import clean
from bench.pipeline import (
    RUN_SH_WORKERS,
    WARM_UP_VARIANT,
    _post,
    _states,
    _wait_states,
    measure_freshness,
    start_workers,
)
from bench.stack import Service, bench_env, start_gunicorn, stop
from bench.stats import Round, Run, interleave_calls, service_pids
from shared.clients import get_elasticsearch, get_redis
from shared.settings import Settings

PREFIX = "newsroom-bench-scaling"
QUEUE = "bench-scaling"
# Replica variants: a round's two arms post variants 2r and 2r + 1 of the same articles;
# freshness rounds use their own range.
SCALING_VARIANTS = 1_000
FRESHNESS_VARIANTS = 3_000
BACKLOG_VARIANTS = 5_000  # added to the round's variant: never one a live article uses
# The backlog covers a round (its seconds plus the wait for the last article, BACKLOG_EXTRA_S)
# at worker 1's rate times BACKLOG_MARGIN, plus the tasks a worker holds (one running, one
# prefetched).
BACKLOG_EXTRA_S = 10.0
BACKLOG_MARGIN = 1.3
HELD_TASKS = 2
PER_REQUEST = 100


@dataclass(frozen=True)
class ScalingPlan:
    rounds: int
    articles: int  # per round and arm
    freshness_rounds: int
    freshness_seconds: float


PLANS = {
    "quick": ScalingPlan(rounds=2, articles=40, freshness_rounds=2, freshness_seconds=10),
    "full": ScalingPlan(rounds=5, articles=120, freshness_rounds=5, freshness_seconds=20),
}


def _settings() -> Settings:
    return Settings(index_prefix=PREFIX, queue_name=QUEUE, bulk_queue_name=f"{QUEUE}-bulk")


def backlog_articles(rate: float, seconds: float, task_batch: int) -> int:
    """Enough bulk articles to keep a worker going at ``rate`` through a round of ``seconds``
    (see BACKLOG_*), whatever it holds."""
    covered = math.ceil(rate * (seconds + BACKLOG_EXTRA_S) * BACKLOG_MARGIN)
    return covered + HELD_TASKS * task_batch


def pipeline_round(
    settings: Settings, ingest: Service, indices: Sequence[int], variant: int, queue: str
) -> float:
    """Post replicas ``variant`` of ``indices`` to ``queue``; articles per second to indexed."""
    posts = [corpus.post_for(index, variant) for index in indices]
    began = time.monotonic()
    ids = _post(ingest.url, posts, PER_REQUEST, queue=queue)
    ended, _ = _wait_states(settings, ids, 1800)
    return len(ids) / (ended - began)


def freshness_round(
    settings: Settings,
    ingest: Service,
    indices: Sequence[int],
    rate: float,
    variant: int,
    backlog: Sequence[int] = (),
) -> dict[str, Any]:
    """One freshness round; with ``backlog``, those articles are posted to the bulk queue
    first and what is left of them dropped afterwards."""
    bulk_ids: list[str] = []
    if backlog:
        posts = [corpus.post_for(index, BACKLOG_VARIANTS + variant) for index in backlog]
        bulk_ids = _post(ingest.url, posts, PER_REQUEST, queue="bulk")
    found = measure_freshness(settings, ingest, indices, rate, variant=variant)
    if backlog:
        # Still busy at the end of the round: backlog articles not indexed yet, tasks queued.
        found["bulk_articles_left"] = sum(
            state != "indexed" for state in _states(settings, bulk_ids)
        )
        found["bulk_tasks_left"] = int(get_redis(settings).llen(settings.bulk_queue_name))
        found["bulk_backlog_articles"] = len(bulk_ids)
        drained = time.monotonic()
        _wait_states(settings, bulk_ids, 1800)
        found["bulk_drain_s"] = round(time.monotonic() - drained, 1)
    return found


def measure(
    log_dir: Path, indices: Sequence[int], plan: ScalingPlan, run: Run | None = None
) -> dict[str, Any]:
    """Both measures on one stack; ``indices``: corpus articles (at least ``plan.articles``
    plus enough for the freshness rounds, used round after round as replicas)."""
    run = run or Run.here()
    settings = _settings()
    redis_client, es = get_redis(settings), get_elasticsearch(settings)
    clean(redis_client, es, settings)
    env = bench_env(PREFIX, QUEUE, {"NEWSROOM_STATUS_TTL_S": "7200"})
    ingest = start_gunicorn("ingest", env, log_dir)
    workers: list[Service] = []
    try:
        start_workers(workers, env, log_dir, RUN_SH_WORKERS, name="scaling")
        # One task on each queue: both workers have run the whole path once.
        task_batch = settings.ingest_task_batch_size
        warm = [corpus.post_for(index, WARM_UP_VARIANT) for index in indices[: 2 * task_batch]]
        warm_ids = _post(ingest.url, warm[:task_batch], PER_REQUEST, queue="bulk")
        warm_ids += _post(ingest.url, warm[task_batch:], PER_REQUEST, queue="live")
        _wait_states(settings, warm_ids, 600)
        pids = service_pids()
        articles = list(indices[: plan.articles])

        def arm(queue: str, offset: int) -> Any:
            return lambda number: pipeline_round(
                settings, ingest, articles, SCALING_VARIANTS + 2 * number + offset, queue
            )

        rounds = interleave_calls(plan.rounds, {"1": arm("bulk", 0), "2": arm("live", 1)}, pids)
        one, two = (
            run.record(
                f"pipeline_aps_{name}",
                [Round(aps, share) for aps, share in rounds[arm_name]],
                unit="articles/s",
                what=f"{plan.articles} articles posted to the {queue} queue ({who}) → indexed",
                warm_up="one task on each queue",
            )
            for arm_name, name, queue, who in (
                ("1", "1_worker", "bulk", "worker 1 alone"),
                ("2", "2_workers", "live", "both workers"),
            )
        )
        ratio = run.ratio("workers_2_over_1", "pipeline_aps_2_workers", "pipeline_aps_1_worker")

        rate = two["median"] / 2
        per_round = max(1, int(rate * plan.freshness_seconds))
        backlog_size = backlog_articles(one["median"], plan.freshness_seconds, task_batch)
        rest = list(indices[plan.articles :]) or articles
        fresh = (rest * (per_round // len(rest) + 1))[:per_round]
        backlog = (list(indices) * (backlog_size // len(indices) + 1))[:backlog_size]

        def fresh_arm(busy: bool) -> Any:
            return lambda number: freshness_round(
                settings,
                ingest,
                fresh,
                rate,
                FRESHNESS_VARIANTS + 2 * number + int(busy),
                backlog if busy else (),
            )

        calls = interleave_calls(
            plan.freshness_rounds, {"idle": fresh_arm(False), "busy": fresh_arm(True)}, pids
        )
        figures: dict[str, Any] = {}
        for name, key in (("idle", "freshness_idle"), ("busy", "freshness_busy_bulk")):
            for quantile in ("p50", "p99"):
                figures[f"{key}_{quantile}_s"] = run.record(
                    f"{key}_{quantile}_s",
                    [Round(r[f"freshness_{quantile}_s"], share) for r, share in calls[name]],
                    unit="s",
                    what=f"POST → searchable, {quantile}, bulk queue {name}, {rate:.1f} articles/s",
                    warm_up="pipeline rounds before",
                )
        busy_over_idle = run.ratio(
            "freshness_busy_over_idle", "freshness_busy_bulk_p99_s", "freshness_idle_p99_s"
        )
        return {
            "figures": [
                "pipeline_aps_1_worker",
                "pipeline_aps_2_workers",
                "workers_2_over_1",
                *figures,
                "freshness_busy_over_idle",
            ],
            "plan": plan.__dict__,
            "pipeline_aps_1_worker": one,
            "pipeline_aps_2_workers": two,
            "workers_2_over_1": ratio,
            "freshness_rate_aps": rate,
            "freshness_articles_per_round": per_round,
            "bulk_backlog_articles": backlog_size,
            "freshness_rounds": {
                name: [result | {"share": share} for result, share in got]
                for name, got in calls.items()
            },
            "freshness_busy_over_idle": busy_over_idle,
            **figures,
            "when": report.now(),
        }
    finally:
        for worker in workers:
            stop(worker, timeout_s=120)
        stop(ingest)
        clean(redis_client, es, settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=sorted(PLANS), default="quick")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    plan = PLANS[args.mode]
    indices = corpus.distinct_indices(plan.articles + 200)
    run = Run.here()
    result = measure(report.RESULTS / "logs", indices, plan, run)
    path = report.write_json(result | {"figures": run.figures}, "scaling.json")
    print(json.dumps({k: run.figures[k]["median"] for k in run.figures}, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
