"""``pipeline_aps`` (posted to indexed, end to end) and ``freshness_p50_s``/``freshness_p99_s``
(posted to searchable, at half that rate), on the real stack: gunicorn ingest, a prefork Celery
worker with one process per core, the shared Redis and Elasticsearch.

The run gets its own index prefix, queue and a fresh index, so earlier runs cannot make its
articles "already indexed" (revisions, near-duplicates); everything is deleted afterwards.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench import corpus
from bench.housekeeping import clean
from bench.ingest import ndjson_bodies
from bench.load import percentile
from bench.stack import (
    VENV_BIN,
    CpuMeter,
    Service,
    bench_env,
    rss_mb,
    start_gunicorn,
    start_worker,
    stop,
)
from shared.clients import get_elasticsearch, get_redis
from shared.settings import Settings

PREFIX = "newsroom-bench-pipeline"
QUEUE = "bench-pipeline"
# Replica variant used for warm-up articles: never among the measured ones.
WARM_UP_VARIANT = 997
POLL_S = 0.05
# scripts/run.sh: one worker process on the live queue, one on bulk and live (queues, processes).
RUN_SH_WORKERS: tuple[tuple[tuple[str, ...], int], ...] = ((("live",), 1), (("bulk", "live"), 1))


def _states(settings: Settings, ids: Sequence[str]) -> list[str | None]:
    client = get_redis(settings)
    pipe = client.pipeline(transaction=False)
    for article_id in ids:
        pipe.hget(f"{settings.index_prefix}:article:{article_id}", "state")
    return list(pipe.execute())


def _post(
    url: str, posts: list[dict[str, Any]], per_request: int, queue: str = "live"
) -> list[str]:
    """Post NDJSON batches from one client to the ``live`` or ``bulk`` queue; the accepted
    ids, in order."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    ids: list[str] = []
    for body in ndjson_bodies(posts, per_request):
        connection.request(
            "POST",
            f"/articles?queue={queue}",
            body=body,
            headers={"Content-Type": "application/x-ndjson"},
        )
        response = connection.getresponse()
        answer = json.loads(response.read())
        if response.status != 202 or answer.get("rejected"):
            raise RuntimeError(f"ingest refused a batch: {response.status} {answer}")
        ids += [article["id"] for article in answer["articles"]]
    connection.close()
    return ids


def _wait_states(
    settings: Settings, ids: list[str], timeout_s: float, bar: tqdm[Any] | None = None
) -> tuple[float, list[tuple[float, int]]]:
    """Poll until every id is ``indexed``; (when it was, progress samples (t, done))."""
    deadline = time.monotonic() + timeout_s
    samples: list[tuple[float, int]] = []
    while True:
        states = _states(settings, ids)
        now = time.monotonic()
        done = sum(state == "indexed" for state in states)
        failed = [i for i, s in zip(ids, states, strict=True) if s == "failed"]
        if failed:
            raise RuntimeError(f"{len(failed)} articles failed in the pipeline, e.g. {failed[0]}")
        samples.append((now, done))
        if bar is not None:
            bar.update(done - bar.n)
        if done == len(ids):
            return now, samples
        if now > deadline:
            raise RuntimeError(f"only {done} of {len(ids)} articles indexed in {timeout_s} s")
        time.sleep(0.1)


def _profile(pids: list[int], seconds: int, out_dir: Path) -> list[subprocess.Popen[bytes]]:
    """py-spy on each pid (idle samples left out), as collapsed stacks."""
    out_dir.mkdir(parents=True, exist_ok=True)
    spy = VENV_BIN / "py-spy"
    options = ["--duration", str(seconds), "--rate", "100", "--nonblocking", "--format", "raw"]
    return [
        subprocess.Popen(
            [str(spy), "record", "--pid", str(pid), *options, "-o", f"{out_dir}/worker-{pid}.txt"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in pids
    ]


def start_workers(
    started: list[Service],
    env: dict[str, str],
    log_dir: Path,
    workers: tuple[tuple[tuple[str, ...], int], ...] = RUN_SH_WORKERS,
    name: str = "worker",
) -> None:
    """Start ``workers`` ((queues, processes) each) in turn, each appended to ``started`` as
    soon as it is ready, so that the caller stops those that started if a later one fails."""
    for number, (queues, processes) in enumerate(workers):
        started.append(
            start_worker(env, log_dir, concurrency=processes, queues=queues, name=f"{name}{number}")
        )


def measure_freshness(
    settings: Settings, ingest: Service, indices: Sequence[int], rate: float, variant: int = 0
) -> dict[str, Any]:
    """Post one article at a time at ``rate`` per second (one client, evenly spaced) and time
    each from its POST to the first search that finds it (a poller searches the alias for the
    pending ids every ``POLL_S``). ``variant``: post replicas of the corpus articles."""
    import http.client
    from urllib.parse import urlsplit

    es = get_elasticsearch(settings)
    alias = settings.articles_alias
    posted: dict[str, float] = {}
    seen: dict[str, float] = {}
    lock = threading.Lock()
    stop_polling = threading.Event()

    def poll() -> None:
        while not stop_polling.is_set():
            with lock:
                pending = [i for i in posted if i not in seen]
            if pending:
                found = es.search(
                    index=alias, query={"ids": {"values": pending}}, size=len(pending),
                    source=False, track_total_hits=False,
                )  # fmt: skip
                now = time.monotonic()
                with lock:
                    for hit in found["hits"]["hits"]:
                        seen.setdefault(hit["_id"], now)
            time.sleep(POLL_S)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    parts = urlsplit(ingest.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    interval = 1 / rate
    started = time.monotonic()
    for number, index in enumerate(
        tqdm(indices, desc="freshness", unit="art", mininterval=2, leave=False)
    ):
        time.sleep(max(0.0, started + number * interval - time.monotonic()))
        body = json.dumps(corpus.post_for(index, variant), ensure_ascii=False).encode()
        sent = time.monotonic()
        connection.request(
            "POST", "/articles", body=body, headers={"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        answer = json.loads(response.read())
        with lock:
            posted[answer["articles"][0]["id"]] = sent
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with lock:
            if len(seen) == len(posted):
                break
        time.sleep(0.1)
    stop_polling.set()
    poller.join()
    connection.close()
    delays = [seen[i] - posted[i] for i in posted if i in seen]
    return {
        "freshness_p50_s": percentile(delays, 50),
        "freshness_p99_s": percentile(delays, 99),
        "freshness_max_s": max(delays) if delays else float("nan"),
        "rate_aps": rate,
        "articles": len(posted),
        "not_searchable_after_120_s": len(posted) - len(seen),
        "poll_interval_s": POLL_S,
    }


def measure_pipeline(
    log_dir: Path,
    indices: Sequence[int],
    *,
    freshness_indices: Sequence[int] = (),
    freshness_seconds: float = 0,
    freshness_rate: float | None = None,
    workers: tuple[tuple[tuple[str, ...], int], ...] = RUN_SH_WORKERS,
    per_request: int = 100,
    profile_dir: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Post ``indices`` (corpus articles) as NDJSON batches as fast as ingest takes them and
    time until every one is indexed. Then, with the same stack, freshness for
    ``freshness_seconds`` at ``freshness_rate`` (default: half the measured pipeline rate),
    posting articles from ``freshness_indices``."""
    settings = Settings(index_prefix=PREFIX, queue_name=QUEUE, bulk_queue_name=f"{QUEUE}-bulk")
    redis_client, es = get_redis(settings), get_elasticsearch(settings)
    clean(redis_client, es, settings)
    env = bench_env(PREFIX, QUEUE, {"NEWSROOM_STATUS_TTL_S": "7200", **(extra_env or {})})
    ingest = start_gunicorn("ingest", env, log_dir)
    started_workers: list[Service] = []
    concurrency = sum(processes for _, processes in workers)
    try:
        start_workers(started_workers, env, log_dir, workers)
        task_batch = settings.ingest_task_batch_size
        if extra_env and "NEWSROOM_INGEST_TASK_BATCH_SIZE" in extra_env:
            task_batch = int(extra_env["NEWSROOM_INGEST_TASK_BATCH_SIZE"])
        # One task per worker process: every process has run the whole path once.
        warm = [
            corpus.post_for(index, WARM_UP_VARIANT) for index in indices[: concurrency * task_batch]
        ]
        _wait_states(settings, _post(ingest.url, warm, per_request), 300)

        posts = [corpus.post_for(index) for index in indices]
        pool = [pid for worker in started_workers for pid in worker.children()]
        meter = CpuMeter({"worker": pool, "ingest": ingest.children()}, redis_client, es)
        meter.start()
        spies = []
        if profile_dir is not None:
            spies = _profile(pool, 30, profile_dir)
        began = time.monotonic()
        ids = _post(ingest.url, posts, per_request)
        with tqdm(total=len(ids), desc="pipeline", unit="art", mininterval=2, leave=False) as bar:
            ended, samples = _wait_states(settings, ids, 3600, bar)
        cpu = meter.stop()
        for spy in spies:
            spy.wait()
        memory = [rss_mb(pid) for pid in pool]
        seconds = ended - began
        pipeline_aps = len(ids) / seconds
        stack_cpu = (
            cpu["worker"]
            + cpu["ingest"]
            + cpu["redis"]
            + cpu.get("redis_children", 0.0)
            + cpu["elasticsearch"]
        )
        result: dict[str, Any] = {
            "pipeline_aps": pipeline_aps,
            "articles": len(ids),
            "seconds": round(seconds, 2),
            "worker_processes": concurrency,
            "workers": [{"queues": list(q), "processes": n} for q, n in workers],
            "task_batch": task_batch,
            "articles_per_request": per_request,
            "cpu_s": cpu,
            "worker_cpu_ms_per_article": round(1000 * cpu["worker"] / len(ids), 1),
            # Everything the stack spent per article (worker, ingest, Redis, Elasticsearch), and
            # what the cores would do if nothing else ran: the figure other load moves least.
            "stack_cpu_ms_per_article": round(1000 * stack_cpu / len(ids), 1),
            "cpu_bound_aps": round(concurrency * len(ids) / stack_cpu, 2),
            "machine_share": round(stack_cpu / max(cpu["machine"], 1e-9), 2),
            "worker_rss_mb": max(m[0] for m in memory),
            "worker_peak_rss_mb": max(m[1] for m in memory),
            "progress": [(round(t - began, 2), done) for t, done in samples],
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        if freshness_indices and freshness_seconds:
            rate = freshness_rate or pipeline_aps / 2
            chosen = freshness_indices[: max(1, int(rate * freshness_seconds))]
            result["freshness"] = measure_freshness(settings, ingest, chosen, rate)
            memory = [rss_mb(pid) for pid in pool]
            result["worker_rss_mb_after_freshness"] = max(m[0] for m in memory)
        return result
    finally:
        for worker in started_workers:
            stop(worker, timeout_s=120)
        stop(ingest)
        clean(redis_client, es, settings)
