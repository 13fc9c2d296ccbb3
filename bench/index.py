"""Elasticsearch side: the raw ``_bulk`` ceiling (``es_bulk_raw_dps``) and the search indices of
100,000 (or 10,000, or 1,000,000) documents generated from the enriched corpus
(``bench.generate``: words by Zipf's law, growing entities, spread vectors), with their
statistics (distinct words, facet cardinalities, kNN recall@10 against exact search).

Both use the project's own index definition (``shared.index.ensure_index``: the same mapping,
one shard, no replica) under a bench prefix of their own. Documents are generated and
serialised before or beside the timing, so the figures are Elasticsearch's.
"""

from __future__ import annotations

import json
import multiprocessing
import resource
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
from elasticsearch import Elasticsearch
from tqdm import tqdm

from bench import enriched, generate
from bench.housekeeping import delete_index
from shared.clients import get_elasticsearch
from shared.index import ensure_index, index_name
from shared.settings import Settings
from worker.enrich.registry import article_mappings

BULK_PREFIX = "newsroom-bench-bulk"
# Bumped when the documents change, so an index built by older code is rebuilt.
GENERATOR_VERSION = generate.VERSION
# Query vectors whose exact nearest neighbours are kept while an index is built (recall@10).
RECALL_QUERIES = 40
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

_generator: generate.Generator | None = None


def _generate(job: tuple[str, int, int]) -> tuple[int, bytes, list[str], np.ndarray, list[int]]:
    """One chunk of documents (in a forked child): its ``_bulk`` body, ids, vectors and the
    synthetic word ranks it used."""
    alias, start, count = job
    assert _generator is not None
    made = [_generator.document(n) for n in range(start, start + count)]
    lines = []
    for one in made:
        lines.append(json.dumps({"index": {"_index": alias, "_id": one.doc["id"]}}))
        lines.append(_generator.serialise(one))
    body = ("\n".join(lines) + "\n").encode()
    vectors = np.asarray([m.doc["embedding"] for m in made], dtype=np.float32)
    ranks = sorted({r for m in made for r in m.synthetic_ranks})
    return count, body, [m.doc["id"] for m in made], vectors, ranks


def _signature(docs: dict[int, dict[str, Any]], count: int) -> dict[str, Any]:
    return {
        "docs": count,
        "distinct_articles": len(docs),
        "enrichment_cache": enriched.cache_path().name,
        "generator": GENERATOR_VERSION,
        "seed": generate.SEED,
    }


def recall_texts(docs: dict[int, dict[str, Any]], count: int = RECALL_QUERIES) -> list[str]:
    """Short queries (two or three title words) whose vectors measure kNN recall."""
    import random

    rng = random.Random(1818)
    titles = [
        d["title"].split()
        for _, d in sorted(docs.items())
        if len((d.get("title") or "").split()) >= 3
    ]
    texts = []
    for _ in range(count):
        words = rng.choice(titles)
        at = rng.randrange(len(words) - 1)
        texts.append(" ".join(words[at : at + rng.choice((2, 3))]))
    return texts


def _embed(texts: list[str]) -> np.ndarray:
    from embedding import embed_texts

    return np.asarray(embed_texts(texts), dtype=np.float32)


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


# The facets' fields whose distinct values the statistics count (web/facets.py).
CARDINALITY_FIELDS = ("source", "people", "organisations", "keywords", "places.geonameid")


def index_stats(es: Elasticsearch, name: str) -> dict[str, Any]:
    stats = es.indices.stats(index=name, metric="store,segments")["indices"][name]["total"]
    return {
        # _count counts articles; the index stats would count each nested quote as well.
        "docs": int(es.count(index=name)["count"]),
        "store_mb": round(stats["store"]["size_in_bytes"] / 1e6, 1),
        "segments": stats["segments"]["count"],
    }


def corpus_stats(es: Elasticsearch, name: str) -> dict[str, Any]:
    """What the index holds, beside its latencies: distinct body words (counted while it was
    built, with their growth: Heaps' exponent), each facet's distinct values (``cardinality``:
    HyperLogLog, exact to about 3,000 and within a few percent beyond), and kNN recall@10 of
    the search's own kNN request (k 100, 200 candidates, as web/search.py) against the exact
    neighbours found by brute force over every vector during the build."""
    meta = es.indices.get_mapping(index=name)[name]["mappings"].get("_meta") or {}
    built = meta.get("bench_stats") or {}
    aggs = {
        f: {"cardinality": {"field": f, "precision_threshold": 3000}} for f in CARDINALITY_FIELDS
    }
    es = es.options(request_timeout=300)
    found = es.search(index=name, size=0, aggs=aggs, track_total_hits=False)["aggregations"]
    out: dict[str, Any] = {
        "facet_cardinality": {f: int(found[f]["value"]) for f in CARDINALITY_FIELDS},
        "distinct_words": built.get("distinct_words"),
        "distinct_words_curve": built.get("curve"),
        "heaps_beta": built.get("heaps_beta"),
    }
    exact = built.get("exact_top10") or []
    texts = built.get("recall_texts") or []
    if exact and texts:
        vectors = _embed(texts)
        got: list[list[str]] = []
        for vector in vectors:
            knn = {
                "field": "embedding",
                "query_vector": [float(x) for x in vector],
                "k": 100,
                "num_candidates": 200,
            }
            hits = es.search(index=name, knn=knn, size=10, source=False)["hits"]["hits"]
            got.append([hit["_id"] for hit in hits])
        out["knn_recall_at_10"] = round(generate.recall_at_k(got, exact), 4)
        out["knn_recall_queries"] = len(exact)
    return out


def _children_cpu_s() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _drop_stray_alias_indices(es: Elasticsearch, settings: Settings) -> None:
    """A ``_bulk`` sent to the write alias while another run on the same prefix rebuilt its
    index makes Elasticsearch create a plain index of the alias's name, which then blocks the
    alias: remove such an index (by name; never an alias)."""
    for alias in (settings.articles_alias, settings.articles_write_alias):
        if es.indices.exists(index=alias) and not es.indices.exists_alias(name=alias):
            es.indices.delete(index=alias)


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
    """The search index of ``count`` generated documents (``bench.generate``) under
    ``search_prefix(count)``: reused when an earlier run built the same, else built with
    refreshes off and the translog synced in the background during the load (then back to
    the live index's settings) and left to finish merging. Either way with its statistics
    (``corpus_stats``)."""
    settings = Settings(index_prefix=prefix or search_prefix(count))
    es = get_elasticsearch(settings)
    name = index_name(settings)
    signature = _signature(docs, count)
    if not rebuild and existing_index(settings, signature):
        return {
            "reused": True,
            "prefix": settings.index_prefix,
            **index_stats(es, name),
            "corpus": corpus_stats(es, name),
        }
    delete_index(es, settings)
    _drop_stray_alias_indices(es, settings)
    alias = ensure_index(es, settings, article_mappings())
    during_load = {"refresh_interval": "-1", "translog.durability": "async"}
    es.indices.put_settings(index=name, settings={"index": during_load})
    global _generator
    _generator = generate.Generator(docs)
    texts = recall_texts(docs)
    tally = generate.Tally(base_words=len(_generator.vocabulary.words), queries=_embed(texts))
    jobs = [(alias, start, min(chunk, count - start)) for start in range(0, count, chunk)]
    context = multiprocessing.get_context("fork")
    es_cpu, children_cpu = _es_cpu_s(es), _children_cpu_s()
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

        for _, body, ids, vectors, ranks in pool.imap(_generate, jobs):
            limit.acquire()
            future = senders.submit(_send, es, body)
            future.add_done_callback(sent)
            in_flight.append(future)
            tally.add(ids, vectors, ranks)
        for future in in_flight:
            future.result()  # raises what a bulk raised
    load_s = time.monotonic() - started
    es_cpu = _es_cpu_s(es) - es_cpu
    generator_cpu = _children_cpu_s() - children_cpu  # the pool's process, reaped by now
    live = {"refresh_interval": LIVE_REFRESH, "translog.durability": "request"}
    es.indices.put_settings(index=name, settings={"index": live})
    # The first refresh writes every document loaded since the start: minutes at 1M.
    es.options(request_timeout=1800).indices.refresh(index=name)
    merge_wait_s = _wait_for_merges(es, name, timeout_s=1800, quiet_s=settle_s)
    if not tally.curve or tally.curve[-1][0] != count:
        tally.curve.append((count, tally.distinct_words))
    built_stats = {
        "distinct_words": tally.distinct_words,
        "curve": tally.curve,
        "heaps_beta": generate.heaps_beta([p for p in tally.curve if p[0] >= len(docs)]),
        "recall_texts": texts,
        "exact_top10": tally.exact_neighbours(),
    }
    es.indices.put_mapping(index=name, meta={"bench": signature, "bench_stats": built_stats})
    return {
        "reused": False,
        "prefix": settings.index_prefix,
        "load_seconds": round(load_s, 1),
        "load_dps": count / load_s,
        "merge_wait_seconds": round(merge_wait_s, 1),
        # What a build costs on cores of its own (Elasticsearch's CPU includes whatever else
        # it served meanwhile): the 1M build's time is about count x (both) / cores.
        "es_cpu_ms_per_doc_during_load": round(1000 * es_cpu / count, 2),
        "generator_cpu_ms_per_doc": round(1000 * generator_cpu / count, 2),
        "settings_during_load": during_load,
        **index_stats(es, name),
        "corpus": corpus_stats(es, name),
    }
