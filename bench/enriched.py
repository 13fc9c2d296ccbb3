"""Enriched corpus documents: the in-process enrichment ceiling, a cache, and replicas.

Pushing 100,000 articles through enrichment would take hours on two cores, so the search
indices are built differently: each distinct corpus article is enriched once by the real code
(``worker.enrich.enrich_batch``) and cached in ``<cache>/bench/`` (keyed by the enrichment
version and the model versions, so a change re-enriches), and the *enriched* documents are
then replicated (``replicate``) with new ids, a few words swapped, dates spread over the years,
outlets rotated and the embedding moved by a little noise, and bulk-indexed as they are.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import multiprocessing
import os
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from bench import corpus
from quality.corpus import cache_dir
from shared.article import ArticlePayload
from shared.schema import ArticleIn, article_id, to_payload

# Articles per enrich_batch call: the size of one Celery task (NEWSROOM_INGEST_TASK_BATCH_SIZE).
BATCH = 20
# Standard deviation of the noise added to each of a replica's 384 vector components: the
# replica's vector keeps a cosine of about 0.98 with the article's (1 / sqrt(1 + 384 s^2)).
EMBEDDING_NOISE = 0.01


def bench_cache_dir() -> Path:
    return cache_dir().parent / "bench"


def _cache_key() -> str:
    from worker.enrich import ENRICHMENT_VERSION, model_versions

    models = json.dumps(model_versions(), sort_keys=True)
    return f"e{ENRICHMENT_VERSION}-{hashlib.sha256(models.encode()).hexdigest()[:10]}"


def cache_path() -> Path:
    return bench_cache_dir() / f"enriched-{_cache_key()}.jsonl.gz"


def load_cache(path: Path | None = None) -> dict[int, dict[str, Any]]:
    """Corpus position -> enriched document, for every article enriched so far."""
    path = path or cache_path()
    found: dict[int, dict[str, Any]] = {}
    if not path.exists():
        return found
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        try:
            for line in lines:
                record = json.loads(line)
                found[int(record["index"])] = record["doc"]
        except (EOFError, json.JSONDecodeError, gzip.BadGzipFile):
            pass  # a run interrupted mid-write: keep what was whole
    return found


def append_cache(docs: dict[int, dict[str, Any]], path: Path | None = None) -> None:
    """Add documents to the cache (a gzip file of concatenated members: appending is safe)."""
    if not docs:
        return
    path = path or cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "at", encoding="utf-8") as out:
        for index, doc in docs.items():
            out.write(json.dumps({"index": index, "doc": doc}, ensure_ascii=False) + "\n")


def payload_for(index: int, received_at: datetime, variant: int = 0) -> ArticlePayload:
    """The queued payload ingest would make of corpus article ``index`` (variant ``variant``)."""
    article = ArticleIn.model_validate(corpus.post_for(index, variant))
    return to_payload(article, content_type="application/json", received_at=received_at)


# --- the ceiling: the enrichment code in a plain loop, one process per core -------------------


def _enrich_share(
    share: Sequence[int],
    received_at: str,
    barrier: Any,
    results: Any,
    redis_url: str | None,
    dup_prefix: str,
) -> None:
    """One process's part of ``measure_enrichment`` (runs in a spawned child)."""
    from worker.enrich import enrich_batch, warm_up
    from worker.enrich.duplicates import assign_clusters

    warm_up()
    moment = datetime.fromisoformat(received_at)
    payloads = [payload_for(index, moment) for index in share]
    enrich_batch(payloads[:1])  # whatever warm_up does not load (dateparser's data, ...)
    client = None
    if redis_url:
        import redis

        client = redis.Redis.from_url(redis_url, decode_responses=True)
    step_seconds: dict[str, float] = defaultdict(float)
    docs: dict[int, dict[str, Any]] = {}
    barrier.wait()
    started, cpu = time.time(), time.process_time()
    for start in range(0, len(payloads), BATCH):
        chosen = payloads[start : start + BATCH]
        result = enrich_batch(chosen)
        for step, seconds in result.step_seconds.items():
            step_seconds[step] += seconds
        if client is not None:
            # The one step that is not a pure function: the pipeline runs it after the others.
            began = time.perf_counter()
            assign_clusters(
                [(doc["id"], doc["body"]) for doc in result.documents],
                redis_client=client,
                prefix=dup_prefix,
                ttl_s=3600,
            )
            step_seconds["near_duplicates"] += time.perf_counter() - began
        by_id = {doc["id"]: dict(doc) for doc in result.documents}
        for index, payload in zip(share[start : start + BATCH], chosen, strict=True):
            if payload["id"] in by_id:
                docs[index] = by_id[payload["id"]]
    ended, cpu = time.time(), time.process_time() - cpu
    status = Path("/proc/self/status").read_text().splitlines()
    memory = {
        key: int(value.split()[0]) / 1024
        for key, _, value in (line.partition(":") for line in status)
        if key in ("VmRSS", "VmHWM")
    }
    results.put(
        {
            "started": started,
            "ended": ended,
            "cpu_s": cpu,
            "articles": len(docs),
            "step_seconds": dict(step_seconds),
            "rss_mb": memory["VmRSS"],
            "peak_rss_mb": memory["VmHWM"],
            "docs": docs,
        }
    )


def measure_enrichment(
    indices: Sequence[int],
    processes: int,
    *,
    redis_url: str | None = None,
    dup_prefix: str = "newsroom-bench-enrich",
) -> dict[str, Any]:
    """``enrich_inprocess_aps``: the enrichment code in a plain loop, no queue, no HTTP, no
    Elasticsearch, ``processes`` processes (one per core) each enriching every
    ``processes``-th article in batches of ``BATCH``, timed from a common start after every
    process has loaded its models. With ``redis_url`` the near-duplicate step (Redis) runs
    too, under ``dup_prefix``, as in the pipeline.

    Returns the figures and ``docs`` (corpus position -> enriched document)."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    received_at = datetime.now(UTC).isoformat()
    children = [
        context.Process(
            target=_enrich_share,
            args=(
                list(indices[n::processes]),
                received_at,
                barrier,
                results,
                redis_url,
                dup_prefix,
            ),
        )
        for n in range(processes)
    ]
    for child in children:
        child.start()
    reports = _collect(results, children)
    done = sum(r["articles"] for r in reports)
    elapsed = max(r["ended"] for r in reports) - min(r["started"] for r in reports)
    steps: dict[str, float] = defaultdict(float)
    for report in reports:
        for step, seconds in report["step_seconds"].items():
            steps[step] += seconds
    docs: dict[int, dict[str, Any]] = {}
    for report in reports:
        docs |= report["docs"]
    return {
        "processes": processes,
        "articles": done,
        "seconds": elapsed,
        "aps": done / elapsed,
        "aps_per_cpu_s": done / sum(r["cpu_s"] for r in reports),
        "cpu_ms_per_article": 1000 * sum(r["cpu_s"] for r in reports) / max(1, done),
        # What the processes would do on cores of their own (CPU time, not wall time).
        "cpu_bound_aps": processes * done / sum(r["cpu_s"] for r in reports),
        # Wall milliseconds per article in each step, summed over the processes.
        "ms_per_step": {step: 1000 * s / max(1, done) for step, s in steps.items()},
        "rss_mb": max(r["rss_mb"] for r in reports),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in reports),
        "docs": docs,
    }


def _collect(results: Any, children: Sequence[Any]) -> list[dict[str, Any]]:
    """Every child's report; raises if a child dies without one (instead of waiting forever)."""
    import queue

    reports: list[dict[str, Any]] = []
    while len(reports) < len(children):
        try:
            reports.append(results.get(timeout=5))
        except queue.Empty:
            dead = [c for c in children if c.exitcode not in (None, 0)]
            if dead:
                code = dead[0].exitcode
                raise RuntimeError(f"an enrichment process died (exit code {code})") from None
    for child in children:
        child.join()
    return reports


# --- the cache of enriched corpus articles -------------------------------------------------


_pool_ready = False


def _pool_init() -> None:
    global _pool_ready
    from worker.enrich import warm_up

    warm_up()
    _pool_ready = True


def _enrich_indices(indices: list[int], received_at: str) -> dict[int, dict[str, Any]]:
    from worker.enrich import enrich_batch

    moment = datetime.fromisoformat(received_at)
    payloads = [payload_for(index, moment) for index in indices]
    result = enrich_batch(payloads)
    by_id = {doc["id"]: dict(doc) for doc in result.documents}
    return {i: by_id[p["id"]] for i, p in zip(indices, payloads, strict=True) if p["id"] in by_id}


def ensure_cached(indices: Sequence[int], processes: int) -> dict[int, dict[str, Any]]:
    """The enriched documents of these corpus positions, enriching (and caching) those not in
    the cache yet, ``processes`` at a time."""
    cached = load_cache()
    missing = [index for index in indices if index not in cached]
    if missing:
        received_at = datetime.now(UTC).isoformat()
        batches = [missing[start : start + BATCH] for start in range(0, len(missing), BATCH)]
        context = multiprocessing.get_context("spawn")
        with (
            ProcessPoolExecutor(processes, mp_context=context, initializer=_pool_init) as pool,
            tqdm(total=len(missing), desc="enriching corpus (cached)", unit="art") as bar,
        ):
            futures = [pool.submit(_enrich_indices, batch, received_at) for batch in batches]
            for future in as_completed(futures):
                docs = future.result()
                append_cache(docs)
                cached |= docs
                bar.update(len(docs))
    return {index: cached[index] for index in indices if index in cached}


# --- replicas of enriched documents ---------------------------------------------------------


def replicate(doc: dict[str, Any], index: int, variant: int) -> dict[str, Any]:
    """Replica ``variant`` of the enriched document of corpus article ``index``, ready for
    ``_bulk`` (variant 0: the document itself). The text changes as in ``corpus.post_for``;
    entities, quotes, keywords and summary stay the article's; the embedding gets Gaussian
    noise (``EMBEDDING_NOISE``) and is normalised again, so kNN finds the replicas of a story
    near it as it would find several outlets' versions of one story."""
    from worker.enrich.suggest import suggestion_inputs

    original_id = doc["id"]
    out = dict(doc)
    if variant:
        rng = corpus.rng_for(index, variant)
        if doc.get("title"):
            out["title"] = corpus.swap_words(doc["title"], corpus.TITLE_SWAPS, rng)
        out["body"] = corpus.swap_words(doc["body"], corpus.BODY_SWAPS, rng)
        out["source"] = rng.choice(corpus.ALL_OUTLETS)
        published = corpus.replica_date(rng)
        out["url"] = corpus.replica_url(doc.get("url"), index, variant)
        out["id"] = article_id(url=out["url"], source=None, title=None, body="")
        out["published_at"] = published.isoformat()
        out["published_at_source"] = "given"
        out["received_at"] = (published + timedelta(minutes=5)).isoformat()
        noise = np.random.default_rng(rng.getrandbits(64)).normal(0, EMBEDDING_NOISE, 384)
        vector = np.asarray(doc["embedding"], dtype=np.float64) + noise
        vector /= np.linalg.norm(vector)
        out["embedding"] = [round(float(x), 6) for x in vector]
        out["suggest"] = suggestion_inputs(out)
        out["duplicates"] = {
            "cluster_id": original_id,
            "duplicate_of": original_id,
            "near_duplicates": [original_id],
            "similarity": 0.95,
        }
    else:
        out["duplicates"] = {
            "cluster_id": original_id,
            "duplicate_of": None,
            "near_duplicates": [],
            "similarity": None,
        }
    out["indexed_at"] = out["received_at"]
    out["revision"] = 1
    out["content_hash"] = hashlib.sha256(out["id"].encode()).hexdigest()
    return out


def replicas(
    docs: dict[int, dict[str, Any]], count: int, start: int = 0
) -> Iterator[dict[str, Any]]:
    """``count`` documents: every cached article as itself, then variant 1 of each, then
    variant 2, ... (positions ``start`` to ``start + count`` of that sequence)."""
    order = sorted(docs)
    for n in range(start, start + count):
        index = order[n % len(order)]
        yield replicate(docs[index], index, n // len(order))


def worker_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
