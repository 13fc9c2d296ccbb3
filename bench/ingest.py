"""``ingest_batch_aps`` and ``ingest_single_rps``: how fast the shipped ingest server (gunicorn,
as scripts/run.sh runs it) accepts articles, with no worker consuming its queue.

The ingest server gets a queue of its own that nothing consumes, and a backpressure limit
high enough never to answer 429 here (the LLEN check still runs on every request, as in
production); the queue, the status records and the index are deleted afterwards.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from bench import corpus
from bench.housekeeping import clean
from bench.load import LoadResult, percentile, run_load
from bench.stack import (
    GUNICORN_THREADS,
    GUNICORN_WORKERS,
    CpuMeter,
    bench_env,
    start_gunicorn,
    stop,
)
from shared.clients import get_elasticsearch, get_redis
from shared.settings import Settings

PREFIX = "newsroom-bench-ingest"
QUEUE = "bench-ingest"


def ndjson_bodies(posts: list[dict[str, Any]], per_request: int) -> list[bytes]:
    return [
        "".join(
            json.dumps(p, ensure_ascii=False) + "\n" for p in posts[i : i + per_request]
        ).encode()
        for i in range(0, len(posts), per_request)
    ]


def _summary(result: LoadResult, accepted: int) -> dict[str, Any]:
    return {
        "requests": result.requests,
        "accepted_articles": accepted,
        "seconds": round(result.seconds, 3),
        "statuses": {str(k): v for k, v in sorted(result.statuses.items())},
        "latency_p50_ms": round(percentile(result.latencies_ms, 50), 2),
        "latency_p99_ms": round(percentile(result.latencies_ms, 99), 2),
        "client_cpu_s": round(result.client_cpu_s, 2),
    }


def measure_ingest(
    log_dir: Path,
    *,
    batch_articles: int,
    per_request: int,
    batch_clients: int,
    single_articles: int,
    single_clients: int,
    gunicorn_workers: int | None = None,
    gunicorn_threads: int | None = None,
) -> dict[str, Any]:
    settings = Settings(index_prefix=PREFIX, queue_name=QUEUE, bulk_queue_name=f"{QUEUE}-bulk")
    redis_client, es = get_redis(settings), get_elasticsearch(settings)
    clean(redis_client, es, settings)
    env = bench_env(
        PREFIX,
        QUEUE,
        {
            # Nothing consumes this queue: ingest's bounds (tasks, bytes, the Redis memory
            # reserved for what queued articles become) would refuse the load part-way.
            "NEWSROOM_INGEST_MAX_QUEUED_TASKS": "100000000",
            "NEWSROOM_INGEST_MAX_QUEUED_BYTES": str(2**62),
            "NEWSROOM_INGEST_RESERVED_BYTES_PER_ARTICLE": "0",
            "NEWSROOM_STATUS_TTL_S": "3600",
        },
    )
    ingest = start_gunicorn(
        "ingest",
        env,
        log_dir,
        workers=gunicorn_workers or GUNICORN_WORKERS,
        threads=gunicorn_threads or GUNICORN_THREADS,
    )
    try:
        all_posts = corpus.posts(batch_articles + single_articles + 200)
        warm = all_posts[-200:]
        run_load(
            ingest.url,
            [("/articles", b) for b in ndjson_bodies(warm, 50)]
            + [("/articles", json.dumps(p).encode()) for p in warm],
            clients=2,
            content_type="application/x-ndjson",
        )
        bodies = ndjson_bodies(all_posts[:batch_articles], per_request)
        meter = CpuMeter({"ingest": ingest.children()}, redis_client, es).start()
        batch = run_load(
            ingest.url,
            [("/articles", body) for body in bodies],
            clients=batch_clients,
            content_type="application/x-ndjson",
        )
        batch_cpu = meter.stop()
        batch_accepted = per_request * batch.statuses.get(202, 0)
        singles = all_posts[batch_articles : batch_articles + single_articles]
        meter = CpuMeter({"ingest": ingest.children()}, redis_client, es).start()
        single = run_load(
            ingest.url,
            [("/articles", json.dumps(p, ensure_ascii=False).encode()) for p in singles],
            clients=single_clients,
            content_type="application/json",
        )
        single_cpu = meter.stop()
    finally:
        stop(ingest)
        clean(redis_client, es, settings)
    cores = len(os.sched_getaffinity(0))

    def cpu_figures(cpu: dict[str, float], articles: int) -> dict[str, float]:
        """Server CPU per article (ingest, Redis and its forked AOF rewrites) and what the
        cores would accept if they did nothing else (the clients run here too, so a quiet
        machine gets less than that)."""
        server = cpu["ingest"] + cpu["redis"] + cpu.get("redis_children", 0.0)
        per_article = 1000 * server / max(1, articles)
        return {
            "server_cpu_ms_per_article": round(per_article, 3),
            "cpu_bound_aps": round(1000 * cores / per_article, 1) if per_article else 0.0,
            "machine_share": round(server / max(cpu["machine"], 1e-9), 2),
        }

    return {
        "ingest_batch_aps": batch_accepted / batch.seconds,
        "ingest_single_rps": single.statuses.get(202, 0) / single.seconds,
        "batch": _summary(batch, batch_accepted)
        | {"articles_per_request": per_request, "clients": batch_clients, "cpu_s": batch_cpu}
        | cpu_figures(batch_cpu, batch_accepted),
        "single": _summary(single, single.statuses.get(202, 0))
        | {"clients": single_clients, "cpu_s": single_cpu}
        | cpu_figures(single_cpu, single.statuses.get(202, 0)),
    }
