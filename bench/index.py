"""Elasticsearch side: the raw ``_bulk`` ceiling (``es_bulk_raw_dps``) and the search indices of
100,000 (or 10,000, or 1,000,000) replicated enriched documents.

Both use the project's own index definition (``shared.index.ensure_index``: the same mapping,
one shard, no replica) under a bench prefix of their own. Documents are generated and
serialised before or beside the timing, so the figures are Elasticsearch's.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from elasticsearch import Elasticsearch
from tqdm import tqdm

from bench import enriched
from bench.housekeeping import delete_index
from shared.clients import get_elasticsearch
from shared.index import ensure_index, index_name
from shared.settings import Settings
from worker.enrich.registry import article_mappings

BULK_PREFIX = "newsroom-bench-bulk"
# Bumped when the replicas change, so an index built by older code is rebuilt.
GENERATOR_VERSION = 1
LIVE_REFRESH = "1s"  # shared.index.index_settings' refresh_interval


def search_prefix(docs: int) -> str:
    """``newsroom-bench-100k`` and so on: one index per size, kept between runs."""
    if docs % 1_000_000 == 0:
        return f"newsroom-bench-{docs // 1_000_000}m"
    if docs % 1000 == 0:
        return f"newsroom-bench-{docs // 1000}k"
    return f"newsroom-bench-{docs}"


def _bulk_body(alias: str, docs: Iterator[dict[str, Any]]) -> bytes:
    lines = []
    for doc in docs:
        lines.append(json.dumps({"index": {"_index": alias, "_id": doc["id"]}}))
        lines.append(json.dumps(doc, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode()


def _send(es: Elasticsearch, body: bytes) -> int:
    """One ``_bulk``; the number of documents indexed. Any refused item is an error here: the
    documents are the enrichment's own, so a refusal is a bug in the harness."""
    # A pre-serialised NDJSON body goes through as it is (elastic_transport's NdjsonSerializer).
    response = es.options(request_timeout=300).bulk(operations=body)  # type: ignore[arg-type]
    if response["errors"]:
        first = next(i for i in response["items"] if i["index"].get("error"))
        raise RuntimeError(f"bulk item refused: {first['index']['error']}")
    return len(response["items"])


# --- the raw _bulk ceiling --------------------------------------------------------------------


def _es_cpu_s(es: Elasticsearch) -> float:
    stats = es.nodes.stats(node_id="_local", metric="process")["nodes"]
    return float(next(iter(stats.values()))["process"]["cpu"]["total_in_millis"]) / 1000


def measure_raw_bulk(
    docs: dict[int, dict[str, Any]],
    count: int,
    *,
    chunks: tuple[int, ...] = (500, 20),
    threads: int,
    rounds: int = 1,
    prefix: str = BULK_PREFIX,
) -> dict[str, Any]:
    """Index ``count`` replicas (serialised beforehand) into a fresh index with the live index's
    settings (refresh every second), ``threads`` bulks at a time of each size in ``chunks``
    (rounds interleaved, so slow spells of a shared machine hit every size alike), timed until
    a refresh makes them all searchable. ``es_bulk_raw_dps`` is the first size's."""
    settings = Settings(index_prefix=prefix)
    es = get_elasticsearch(settings)
    # Replicas far from those of the search indices (variants from 500 on).
    generated = list(enriched.replicas(docs, count, start=500 * len(docs)))
    seconds: dict[int, float] = dict.fromkeys(chunks, 0.0)
    es_cpu: dict[int, float] = dict.fromkeys(chunks, 0.0)
    indexed: dict[int, int] = dict.fromkeys(chunks, 0)
    megabytes = 0.0
    try:
        for _ in range(rounds):
            for chunk in chunks:
                delete_index(es, settings)
                alias = ensure_index(es, settings, article_mappings())
                bodies = [
                    _bulk_body(alias, iter(generated[i : i + chunk]))
                    for i in range(0, count, chunk)
                ]
                megabytes = sum(len(b) for b in bodies) / 1e6
                before, started = _es_cpu_s(es), time.monotonic()
                with ThreadPoolExecutor(threads) as pool:
                    indexed[chunk] += sum(pool.map(lambda body: _send(es, body), bodies))
                es.indices.refresh(index=alias)
                seconds[chunk] += time.monotonic() - started
                es_cpu[chunk] += _es_cpu_s(es) - before
    finally:
        delete_index(es, settings)
    by_chunk = {
        str(chunk): {
            "dps": round(indexed[chunk] / seconds[chunk], 1),
            "es_cpu_ms_per_doc": round(1000 * es_cpu[chunk] / indexed[chunk], 2),
        }
        for chunk in chunks
    }
    first = chunks[0]
    return {
        "es_bulk_raw_dps": indexed[first] / seconds[first],
        "es_cpu_ms_per_doc": 1000 * es_cpu[first] / indexed[first],
        "by_chunk": by_chunk,
        "docs": count,
        "rounds": rounds,
        "threads": threads,
        "mb_sent": round(megabytes, 1),
        "refresh_interval": LIVE_REFRESH,
    }


# --- the search indices -----------------------------------------------------------------------

_docs_for_children: dict[int, dict[str, Any]] = {}


def _generate(job: tuple[str, int, int]) -> tuple[int, bytes]:
    alias, start, count = job
    return count, _bulk_body(alias, enriched.replicas(_docs_for_children, count, start=start))


def _signature(docs: dict[int, dict[str, Any]], count: int) -> dict[str, Any]:
    return {
        "docs": count,
        "distinct_articles": len(docs),
        "enrichment_cache": enriched.cache_path().name,
        "generator": GENERATOR_VERSION,
    }


def existing_index(settings: Settings, signature: dict[str, Any]) -> bool:
    """Whether the index of these settings holds exactly what ``signature`` describes."""
    es = get_elasticsearch(settings)
    name = index_name(settings)
    if not es.indices.exists(index=name):
        return False
    meta = es.indices.get_mapping(index=name)[name]["mappings"].get("_meta") or {}
    if meta.get("bench") != signature:
        return False
    return bool(int(es.count(index=name)["count"]) == signature["docs"])


def _wait_for_merges(es: Elasticsearch, name: str, timeout_s: float, quiet_s: float = 5) -> float:
    """Wait until no merge has run for a few seconds (a freshly loaded index merges for a while
    and searches meanwhile are slower); returns the seconds waited."""
    started = time.monotonic()
    quiet_since = None
    while time.monotonic() - started < timeout_s:
        stats = es.indices.stats(index=name, metric="merge")
        current = stats["indices"][name]["total"]["merges"]["current"]
        now = time.monotonic()
        if current:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= quiet_s:
            break
        time.sleep(min(1.0, quiet_s / 5))
    return time.monotonic() - started


def index_stats(es: Elasticsearch, name: str) -> dict[str, Any]:
    stats = es.indices.stats(index=name, metric="store,segments")["indices"][name]["total"]
    return {
        # _count counts articles; the index stats would count each nested quote as well.
        "docs": int(es.count(index=name)["count"]),
        "store_mb": round(stats["store"]["size_in_bytes"] / 1e6, 1),
        "segments": stats["segments"]["count"],
    }


def build_search_index(
    docs: dict[int, dict[str, Any]],
    count: int,
    *,
    chunk: int = 500,
    threads: int = 2,
    generators: int = 1,
    rebuild: bool = False,
    prefix: str | None = None,
    settle_s: float = 5,
) -> dict[str, Any]:
    """The search index of ``count`` replicas under ``search_prefix(count)``: reused when an
    earlier run built the same, else built with refreshes off during the load (then back to
    the live index's 1 s) and left to finish merging."""
    settings = Settings(index_prefix=prefix or search_prefix(count))
    es = get_elasticsearch(settings)
    name = index_name(settings)
    signature = _signature(docs, count)
    if not rebuild and existing_index(settings, signature):
        return {"reused": True, "prefix": settings.index_prefix, **index_stats(es, name)}
    delete_index(es, settings)
    alias = ensure_index(es, settings, article_mappings())
    es.indices.put_settings(index=name, settings={"index": {"refresh_interval": "-1"}})
    global _docs_for_children
    _docs_for_children = docs
    jobs = [(alias, start, min(chunk, count - start)) for start in range(0, count, chunk)]
    context = multiprocessing.get_context("fork")
    started = time.monotonic()
    in_flight: list[Future[int]] = []
    limit = threading.Semaphore(2 * threads)
    with (
        context.Pool(generators) as pool,
        ThreadPoolExecutor(threads) as senders,
        tqdm(total=count, desc=f"indexing {settings.index_prefix}", unit="doc") as bar,
    ):

        def sent(future: Future[int]) -> None:
            limit.release()
            if future.exception() is None:
                bar.update(future.result())

        for _, body in pool.imap(_generate, jobs):
            limit.acquire()
            future = senders.submit(_send, es, body)
            future.add_done_callback(sent)
            in_flight.append(future)
        for future in in_flight:
            future.result()  # raises what a bulk raised
    load_s = time.monotonic() - started
    es.indices.put_settings(index=name, settings={"index": {"refresh_interval": LIVE_REFRESH}})
    es.indices.refresh(index=name)
    merge_wait_s = _wait_for_merges(es, name, timeout_s=600, quiet_s=settle_s)
    es.indices.put_mapping(index=name, meta={"bench": signature})
    return {
        "reused": False,
        "prefix": settings.index_prefix,
        "load_seconds": round(load_s, 1),
        "load_dps": count / load_s,
        "merge_wait_seconds": round(merge_wait_s, 1),
        "refresh_interval_during_load": "-1",
        **index_stats(es, name),
    }
