"""``python -m bench.coldstart``: how long a new process takes to be useful (issue 18 item 6).

- ``worker_ready_s``: from spawning a Celery worker (one process, as scripts/run.sh runs each)
  to its " ready." line; ``worker_first_article_s``: from the spawn to the first article
  posted after that line being indexed: what a restart costs the stream. The " ready." line
  comes from the main process while the pool process may still be in ``worker_process_init``
  loading the models (measured: ~180 MB resident at " ready.", ~540 MB by the first article),
  so the second figure is the one that counts.
- ``worker_ready_rss_mb`` and ``worker_first_article_peak_rss_mb``: the pool process resident
  at " ready." and its peak (VmHWM) by its first article.
- ``web_healthz_s``: from spawning the web (gunicorn, scripts/run.sh's workers and threads) to
  ``/healthz`` answering; ``web_first_search_s``: to the first ``/api/search`` answered 200
  (issued as soon as ``/healthz`` answers: its first search loads the query embedding model).

Rounds alternate (web, worker / worker, web) with their machine share (``bench.stats``).
"Cold" is the process, not the machine: the model files are in the page cache after the
first round (dropping the cache needs root, which the bench does not take); the first round
is kept apart as ``first_round`` for what it is. The harness polls a process every 0.2 s:
each figure is late by at most that.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench import corpus, report
from bench.housekeeping import clean
from bench.pipeline import _post, _wait_states
from bench.stack import bench_env, rss_mb, start_gunicorn, start_worker, stop
from bench.stats import Round, Run, interleave_calls, service_pids
from shared.clients import get_elasticsearch, get_redis
from shared.settings import Settings

PREFIX = "newsroom-bench-coldstart"
QUEUE = "bench-coldstart"
VARIANTS = 7_000
ROUNDS = {"quick": 2, "full": 5}
QUERY = "government"


def _search_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(  # noqa: S310 (loopback)
            f"{url}/api/search?q={QUERY}", timeout=30
        ) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def measure(log_dir: Path, rounds: int, run: Run | None = None) -> dict[str, Any]:
    run = run or Run.here()
    settings = Settings(index_prefix=PREFIX, queue_name=QUEUE, bulk_queue_name=f"{QUEUE}-bulk")
    redis_client, es = get_redis(settings), get_elasticsearch(settings)
    clean(redis_client, es, settings)
    env = bench_env(PREFIX, QUEUE)
    ingest = start_gunicorn("ingest", env, log_dir)
    index = iter(corpus.distinct_indices(rounds + 1))

    def worker(number: int) -> dict[str, float]:
        began = time.monotonic()
        service = start_worker(env, log_dir, name="coldstart-worker")
        try:
            ready = time.monotonic() - began
            pool = service.children()
            ready_rss = max((rss_mb(pid)[0] for pid in pool), default=0.0)
            post = corpus.post_for(next(index), VARIANTS + number)
            ids = _post(ingest.url, [post], 1)
            indexed, _ = _wait_states(settings, ids, 300)
            return {
                "ready_s": ready,
                "first_article_s": indexed - began,
                # The pool process: resident once ready, and its peak (VmHWM) by the first
                # article indexed (models loaded, the first batch's lazy loads done).
                "ready_rss_mb": ready_rss,
                "first_article_peak_rss_mb": max((rss_mb(pid)[1] for pid in pool), default=0.0),
            }
        finally:
            stop(service, timeout_s=120)

    def web(_number: int) -> dict[str, float]:
        began = time.monotonic()
        service = start_gunicorn("web", env, log_dir)
        try:
            healthz = time.monotonic() - began
            deadline = began + 120
            while not _search_ok(service.url):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no search answered in 120 s:\n{service.log_tail()}")
                time.sleep(0.2)
            return {"healthz_s": healthz, "first_search_s": time.monotonic() - began}
        finally:
            stop(service)

    try:
        # The web needs the alias: one article indexed by a worker first (that round is
        # the first worker round, measured like the others).
        calls = interleave_calls(rounds, {"worker": worker, "web": web}, service_pids())
    finally:
        stop(ingest)
        clean(redis_client, es, settings)
    described = {
        "worker": {
            "ready_s": "worker spawn → ready (models loaded)",
            "first_article_s": "worker spawn → first article posted after ready indexed",
            "ready_rss_mb": "pool process resident once ready",
            "first_article_peak_rss_mb": "pool process peak (VmHWM) by its first article",
        },
        "web": {
            "healthz_s": "web spawn → /healthz answered",
            "first_search_s": "web spawn → first /api/search answered",
        },
    }
    figures = {}
    for arm, keys in described.items():
        for key, what in keys.items():
            name = f"{arm}_{key}"
            figures[name] = run.record(
                name,
                [Round(result[key], share) for result, share in calls[arm]],
                unit="MB" if key.endswith("_mb") else "s",
                what=what,
                warm_up="none (process); model files in the page cache after round 1",
            )
    return figures | {
        "figures": sorted(figures),
        "first_round": {arm: got[0][0] for arm, got in calls.items()},
        "rounds": rounds,
        "when": report.now(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=sorted(ROUNDS), default="quick")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    run = Run.here()
    result = measure(report.RESULTS / "logs", ROUNDS[args.mode], run)
    path = report.write_json(result | {"figures": run.figures}, "coldstart.json")
    print(json.dumps({k: run.figures[k]["median"] for k in run.figures}, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
