"""``python -m bench.stories``: what stories and /rising cost (issue 17), measured the way issue 18
asks: every ratio from one run, rounds repeated and interleaved, each figure with its spread.

- ``story_cpu_share``: the CPU the worker spends assigning stories (``worker.stories.
  assign_stories``: features, the Redis round trips, the decision) per article, over the CPU
  the enrichment steps spend per article (``worker.enrich.enrich_batch``), in this process, on
  the same articles, round after round: enrich a batch, then assign it. Rounds alternate, so a
  slow spell of the shared machine hits both sides. The story index is seeded first with
  replicas of enriched corpus articles spread over the window, so candidates are found and
  centroids read as in a running system; half of each round's articles are other outlets'
  versions of seeded stories (they join), half are articles not seen before (they start one).
  The denominator is the enrichment steps alone (not near-duplicates nor indexing), so the
  share is the larger of the ways to count it. Redis's own CPU for the same calls is reported
  apart (``redis_cpu_ms_per_article``: INFO's used_cpu, on a Redis others may use).
- ``rising_p99_ms_at_100k``: ``GET /api/rising`` (all kinds) on gunicorn over an index of
  100,000 replicas of enriched corpus articles (without their embeddings: /rising never reads
  them, and their vector graph would take half an hour to build here) whose ``seen_at`` spreads
  over the last 15 days
  (built once, rebuilt when older than ``MAX_INDEX_AGE_S``, since the windows end now), with a
  burst for a few stories in the last day. Measured two ways, rounds alternating: **uncached**
  (Elasticsearch's request cache cleared before every request, untimed) and **cached** (the
  same requests again). The same run times ``/healthz`` (the web's floor) as the baseline.

Figures: the median over rounds with the range of the rounds (for 5 rounds the range holds
the median with 94% confidence: 1 - 2 * 0.5^5). Written to ``bench/results/stories.json`` and
docs/BENCHMARKS.md's "stories" section. Redis and Elasticsearch must be up.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from tqdm import tqdm

from bench import corpus, enriched, report
from bench.housekeeping import delete_index, delete_redis_prefix
from bench.index import _bulk_body, _send
from bench.load import percentile, timed_requests
from bench.stack import bench_env, start_gunicorn, stop
from shared.clients import get_elasticsearch, get_redis
from shared.document import EnrichedDocument
from shared.settings import Settings

STORY_PREFIX = "newsroom-bench-stories"
RISING_PREFIX = "newsroom-bench-rising-100k"
ROUNDS = 5
ARTICLES_PER_ROUND = 40
SEED_DOCS = 5_000
DISTINCT = 400  # enriched corpus articles the seed and the 100k index are replicated from
RISING_DOCS = 100_000
MAX_INDEX_AGE_S = 6 * 3600
REQUESTS_PER_ROUND = 100
SPREAD_DAYS = 15


def _spread(rounds: Sequence[float]) -> dict[str, float]:
    """Median and range of per-round figures."""
    return {
        "median": round(statistics.median(rounds), 4),
        "low": round(min(rounds), 4),
        "high": round(max(rounds), 4),
        "rounds": len(rounds),
    }


def _redis_cpu_s(redis_client: Any) -> float:
    info = redis_client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _seed_docs(docs: dict[int, dict[str, Any]], count: int, now: datetime) -> list[dict[str, Any]]:
    """``count`` replicas (other outlets' versions of the cached articles), seen over the last
    ``SPREAD_DAYS`` days, each carrying its near-duplicate cluster as the pipeline gives it."""
    rng = random.Random(17)
    out = []
    for doc in enriched.replicas(docs, count, start=len(docs)):
        moment = now - timedelta(seconds=rng.uniform(0, SPREAD_DAYS * 86400))
        doc["published_at"] = moment.isoformat()
        doc["received_at"] = moment.isoformat()
        out.append(doc)
    return out


def measure_story_cpu(docs: dict[int, dict[str, Any]], settings: Settings) -> dict[str, Any]:
    from worker.enrich import enrich_batch, warm_up
    from worker.stories import assign_stories

    redis_client = get_redis(settings)
    story_settings = Settings(index_prefix=STORY_PREFIX)
    delete_redis_prefix(redis_client, STORY_PREFIX)
    now = datetime.now(UTC)
    seed = _seed_docs(docs, SEED_DOCS, now)
    for start in tqdm(range(0, len(seed), 100), desc="seeding stories", unit="batch"):
        assign_stories(
            cast(list[EnrichedDocument], seed[start : start + 100]),
            redis_client=redis_client,
            settings=story_settings,
            now=now,
        )
    warm_up()
    cached = sorted(docs)
    fresh = [i for i in corpus.distinct_indices(len(corpus.articles())) if i not in docs]
    enrich_batch([enriched.payload_for(fresh[-1], now)])  # whatever warm_up does not load
    shares, enrich_ms, story_ms, redis_ms = [], [], [], []
    for number in tqdm(range(ROUNDS), desc="story CPU rounds", unit="round"):
        half = ARTICLES_PER_ROUND // 2
        joining = [
            enriched.payload_for(
                cached[(number * half + i) % len(cached)], now, variant=900 + number
            )
            for i in range(half)
        ]
        starting = [
            enriched.payload_for(index, now) for index in fresh[number * half : (number + 1) * half]
        ]
        payloads = joining + starting
        cpu = time.process_time()
        documents = []
        for start in range(0, len(payloads), enriched.BATCH):
            documents += enrich_batch(payloads[start : start + enriched.BATCH]).documents
        enrich_cpu = time.process_time() - cpu
        redis_before, cpu = _redis_cpu_s(redis_client), time.process_time()
        assign_stories(documents, redis_client=redis_client, settings=story_settings)
        story_cpu = time.process_time() - cpu
        redis_cpu = _redis_cpu_s(redis_client) - redis_before
        enrich_ms.append(1000 * enrich_cpu / len(documents))
        story_ms.append(1000 * story_cpu / len(documents))
        redis_ms.append(1000 * redis_cpu / len(documents))
        shares.append(story_cpu / enrich_cpu)
    delete_redis_prefix(redis_client, STORY_PREFIX)
    return {
        "story_cpu_share": _spread(shares),
        "enrich_cpu_ms_per_article": _spread(enrich_ms),
        "story_cpu_ms_per_article": _spread(story_ms),
        "redis_cpu_ms_per_article": _spread(redis_ms),
        "articles_per_round": ARTICLES_PER_ROUND,
        "seeded_stories_from_docs": SEED_DOCS,
    }


# --- /rising at 100k ---------------------------------------------------------------------------


def _rising_doc(doc: dict[str, Any], moment: datetime) -> dict[str, Any]:
    out = dict(doc)
    # /rising reads keyword doc values and seen_at only; building the 384-d vector graph of
    # 100,000 documents takes half an hour on this shared machine (50 documents/s measured),
    # so these documents carry no embedding (said in docs/BENCHMARKS.md).
    out.pop("embedding", None)
    out["seen_at"] = moment.isoformat()
    out["published_at"] = moment.isoformat()
    out["received_at"] = moment.isoformat()
    out["indexed_at"] = moment.isoformat()
    # Replicas of one article stand for one story (other outlets' versions of it).
    out["story"] = {"id": f"s{doc['duplicates']['cluster_id']}", "similarity": None}
    return out


def build_rising_index(docs: dict[int, dict[str, Any]], settings: Settings) -> dict[str, Any]:
    """The 100k index, rebuilt when missing, short or older than ``MAX_INDEX_AGE_S``."""
    from shared.index import ensure_index
    from worker.enrich.registry import article_mappings

    es, redis_client = get_elasticsearch(settings), get_redis(settings)
    built_key = f"{RISING_PREFIX}:bench:built_at"
    built = float(redis_client.get(built_key) or 0)
    alias = settings.articles_alias
    if (
        time.time() - built < MAX_INDEX_AGE_S
        and es.indices.exists_alias(name=alias)
        and es.count(index=alias)["count"] == RISING_DOCS
    ):
        return {"docs": RISING_DOCS, "built_at": built, "rebuilt": False}
    delete_index(es, settings)
    alias = ensure_index(es, settings, article_mappings())
    now = datetime.now(UTC)
    rng = random.Random(18)
    bursting = set(rng.sample(sorted(docs), 5))
    with tqdm(total=RISING_DOCS, desc="rising index", unit="doc") as bar:
        chunk: list[dict[str, Any]] = []
        for doc in enriched.replicas(docs, RISING_DOCS):
            original = doc["duplicates"]["cluster_id"]
            in_burst = any(original == docs[i]["id"] for i in bursting) and rng.random() < 0.5
            days = rng.uniform(0, 1) if in_burst else rng.uniform(0, SPREAD_DAYS)
            chunk.append(_rising_doc(doc, now - timedelta(days=days)))
            if len(chunk) == 1000:
                _send(es, _bulk_body(alias, iter(chunk)))
                bar.update(len(chunk))
                chunk = []
        if chunk:
            _send(es, _bulk_body(alias, iter(chunk)))
            bar.update(len(chunk))
    es.indices.refresh(index=alias)
    es.options(request_timeout=600).indices.forcemerge(index=alias, max_num_segments=1)
    redis_client.set(built_key, str(now.timestamp()))
    return {"docs": RISING_DOCS, "built_at": now.timestamp(), "rebuilt": True}


def measure_rising(docs: dict[int, dict[str, Any]]) -> dict[str, Any]:
    settings = Settings(index_prefix=RISING_PREFIX)
    es = get_elasticsearch(settings)
    index = build_rising_index(docs, settings)
    paths = [
        "/api/rising",
        "/api/rising?kind=people",
        "/api/rising?kind=stories&limit=50",
        "/api/rising?recent_hours=6",
        "/api/rising?baseline_days=7&kind=keywords&kind=organisations",
    ]
    log_dir = report.RESULTS / "logs"
    web = start_gunicorn("web", bench_env(RISING_PREFIX, "bench-rising"), log_dir)
    base = web.url
    uncached_p99, cached_p99, floor_p99 = [], [], []
    uncached_all: list[float] = []
    statuses: set[int] = set()
    try:
        timed_requests(base, paths * 4)  # connections, code paths, page cache
        for _ in tqdm(range(ROUNDS), desc="/api/rising rounds", unit="round"):
            cold: list[float] = []
            for number in range(REQUESTS_PER_ROUND):
                es.indices.clear_cache(index=settings.articles_alias, request=True)
                latency, status = timed_requests(base, [paths[number % len(paths)]])
                cold += latency
                statuses.update(status)
            warm, status = timed_requests(
                base, [paths[n % len(paths)] for n in range(REQUESTS_PER_ROUND)]
            )
            statuses.update(status)
            floor, _ = timed_requests(base, ["/healthz"] * REQUESTS_PER_ROUND)
            uncached_p99.append(percentile(cold, 99))
            cached_p99.append(percentile(warm, 99))
            floor_p99.append(percentile(floor, 99))
            uncached_all += cold
    finally:
        stop(web)
    if statuses != {200}:
        raise RuntimeError(f"/api/rising answered {sorted(statuses)}")
    return {
        "rising_p99_ms_at_100k": _spread(uncached_p99),
        "rising_p99_ms_at_100k_cached": _spread(cached_p99),
        "rising_p50_ms_at_100k": round(percentile(uncached_all, 50), 2),
        "healthz_p99_ms": _spread(floor_p99),
        "requests_per_round": REQUESTS_PER_ROUND,
        "paths": paths,
        "index": index,
    }


def render(results: dict[str, Any]) -> str:
    def row(name: str, figure: dict[str, float], target: str, unit: str) -> str:
        return (
            f"| `{name}` | {figure['median']:g} {unit} | {figure['low']:g}–{figure['high']:g} "
            f"| {target} |"
        )

    lines = [
        f"Run {results['date']} at commit {results['commit']} "
        f"(`python -m bench.stories`; load average before {results['load_average_before']}).",
        "",
        "| figure | median of rounds | range of rounds | target |",
        "| --- | ---: | ---: | --- |",
    ]
    if "story" in results:
        story = results["story"]
        lines += [
            row("story_cpu_share", story["story_cpu_share"], "<= 0.10", "×"),
            row("story_cpu_ms_per_article", story["story_cpu_ms_per_article"], "", "ms"),
            row("enrich_cpu_ms_per_article", story["enrich_cpu_ms_per_article"], "", "ms"),
            row("redis_cpu_ms_per_article", story["redis_cpu_ms_per_article"], "", "ms"),
        ]
    if "rising" in results:
        rising = results["rising"]
        lines += [
            row("rising_p99_ms_at_100k", rising["rising_p99_ms_at_100k"], "<= 100 ms", "ms"),
            row("rising_p99_ms_at_100k_cached", rising["rising_p99_ms_at_100k_cached"], "", "ms"),
            row("healthz_p99_ms (same run)", rising["healthz_p99_ms"], "", "ms"),
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("story", "rising"), help="one of the two measures")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    settings = Settings()
    es, redis_client = get_elasticsearch(settings), get_redis(settings)
    docs = enriched.ensure_cached(corpus.distinct_indices(DISTINCT), enriched.worker_count())
    results: dict[str, Any] = {
        "date": report.now(),
        "commit": report.versions(es, redis_client).get("newsroom_commit"),
        "machine": report.machine(),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }
    if args.only in (None, "story"):
        results["story"] = measure_story_cpu(docs, settings)
    if args.only in (None, "rising"):
        results["rising"] = measure_rising(docs)
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    report.write_json(results, "stories.json")
    report.update_doc("stories", render(results))
    print(render(results))


if __name__ == "__main__":
    main()
