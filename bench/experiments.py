"""Side-by-side measurements behind docs/BENCHMARKS.md's notes, each a ratio within one run:

    python -m bench.experiments batch-size     # enrichment CPU per article by task batch size
    python -m bench.experiments warm-up        # a worker process's memory after warm_up()
    python -m bench.experiments es-fields      # Elasticsearch's indexing cost of each field
    python -m bench.experiments search-parts --docs 100000   # where a hybrid search's time goes
    python -m bench.experiments embed-query    # a query's embedding: BLAS limits found per call
                                               # (threadpool_limits) or once (the controller)

``batch-size`` runs the same articles through ``enrich_batch`` in batches of 1, 5, 20 and 50,
the sizes interleaved round after round in one process, and compares CPU seconds (not wall
time: other work on the machine moves CPU time much less). ``warm-up`` starts fresh processes
and reads their resident memory after ``worker.enrich.warm_up()`` with and without the short-
text language model (py3langid) loaded. ``es-fields`` bulk-indexes the same replicas of
cached enriched documents with the full document and with one costly field left out at a time
(the embedding, the autocomplete inputs, the nested quotes), rounds interleaved, and compares
the Elasticsearch process's CPU per document. ``search-parts`` makes the requests that
``web.search.search_articles`` makes for the query mix's text queries (bounds, facets and
timeline, keyword top 100, query embedding, kNN, the page's hits with highlights) one at a
time against a bench search index and times each: what each part costs alone
(``search_articles`` runs three chains side by side: keyword; embedding then kNN; bounds then
facets; then the page).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import corpus
from bench.enriched import payload_for

SIZES = (1, 5, 20, 50)
STATUS = Path("/proc/self/status")


def batch_sizes(articles: int = 100, rounds: int = 2) -> dict[str, Any]:
    from worker.enrich import enrich_batch, warm_up

    warm_up()
    now = datetime.now(UTC)
    payloads = [payload_for(i, now) for i in corpus.distinct_indices(articles)]
    enrich_batch(payloads[:5])
    cpu: dict[int, float] = dict.fromkeys(SIZES, 0.0)
    for _ in range(rounds):
        for size in SIZES:
            started = time.process_time()
            for start in range(0, len(payloads), size):
                enrich_batch(payloads[start : start + size])
            cpu[size] += time.process_time() - started
    per_article = {size: 1000 * seconds / (rounds * len(payloads)) for size, seconds in cpu.items()}
    return {
        "articles": len(payloads),
        "rounds": rounds,
        "cpu_ms_per_article": {str(k): round(v, 1) for k, v in per_article.items()},
        "relative_to_20": {str(k): round(v / per_article[20], 3) for k, v in per_article.items()},
    }


def _memory() -> dict[str, float]:
    return {
        key: round(int(value.split()[0]) / 1024, 1)
        for key, _, value in (line.partition(":") for line in STATUS.read_text().splitlines())
        if key in ("VmRSS", "VmHWM")
    }


def _warm_up_memory(load_short_text_model: bool, articles: int, results: Any) -> None:
    from worker.enrich import enrich_batch, language, warm_up

    started = time.perf_counter()
    warm_up()
    if load_short_text_model:
        language._langid()
    seconds = time.perf_counter() - started
    after_warm_up = _memory()
    now = datetime.now(UTC)
    payloads = [payload_for(i, now) for i in corpus.distinct_indices(articles)]
    for start in range(0, len(payloads), 20):
        enrich_batch(payloads[start : start + 20])
    after_articles = _memory()
    results.put(
        {
            "py3langid_loaded": language._langid.cache_info().currsize > 0,
            "rss_mb_after_warm_up": after_warm_up["VmRSS"],
            "warm_up_s": round(seconds, 2),
            f"rss_mb_after_{articles}_articles": after_articles["VmRSS"],
            "peak_rss_mb": after_articles["VmHWM"],
        }
    )


def warm_up_memory(articles: int = 100) -> dict[str, Any]:
    """Resident memory of a fresh process after warm_up() and after enriching ``articles``
    articles in batches of 20, as it is and with py3langid loaded as well (what warm_up did
    before its sample text was long enough for lingua alone)."""
    context = multiprocessing.get_context("spawn")
    found: dict[str, Any] = {}
    for name, load in (("warm_up", False), ("warm_up_plus_py3langid", True)):
        results = context.Queue()
        child = context.Process(target=_warm_up_memory, args=(load, articles, results))
        child.start()
        found[name] = results.get(timeout=600)
        child.join()
    return found


FIELD_VARIANTS = ("full", "no embedding", "no suggest", "no quotes")


def es_fields(docs_count: int = 2000, rounds: int = 2, chunk: int = 200) -> dict[str, Any]:
    from bench.enriched import load_cache, replicas
    from bench.housekeeping import delete_index
    from bench.index import _bulk_body, _send
    from shared.clients import get_elasticsearch
    from shared.index import ensure_index
    from shared.settings import Settings
    from worker.enrich.registry import article_mappings

    cached = load_cache()
    if not cached:
        raise SystemExit("no enriched documents cached yet: run python -m bench first")
    generated = list(replicas(cached, docs_count, start=900 * len(cached)))
    settings = Settings(index_prefix="newsroom-bench-fields")
    es = get_elasticsearch(settings)

    def es_cpu_s() -> float:
        stats = es.nodes.stats(node_id="_local", metric="process")["nodes"]
        return float(next(iter(stats.values()))["process"]["cpu"]["total_in_millis"]) / 1000

    cpu: dict[str, float] = dict.fromkeys(FIELD_VARIANTS, 0.0)
    wall: dict[str, float] = dict.fromkeys(FIELD_VARIANTS, 0.0)
    try:
        for _ in range(rounds):
            for variant in FIELD_VARIANTS:
                left_out = variant.removeprefix("no ")
                chosen = [{k: v for k, v in d.items() if k != left_out} for d in generated]
                delete_index(es, settings)
                alias = ensure_index(es, settings, article_mappings())
                es.indices.put_settings(index=alias, settings={"index": {"refresh_interval": "-1"}})
                bodies = [
                    _bulk_body(alias, iter(chosen[i : i + chunk]))
                    for i in range(0, len(chosen), chunk)
                ]
                before, started = es_cpu_s(), time.monotonic()
                for body in bodies:
                    _send(es, body)
                es.indices.refresh(index=alias)
                es.indices.flush(index=alias)
                wall[variant] += time.monotonic() - started
                cpu[variant] += es_cpu_s() - before
    finally:
        delete_index(es, settings)
    count = rounds * len(generated)
    per_doc = {v: 1000 * s / count for v, s in cpu.items()}
    return {
        "docs": len(generated),
        "rounds": rounds,
        "es_cpu_ms_per_doc": {v: round(ms, 2) for v, ms in per_doc.items()},
        "relative_to_full": {v: round(ms / per_doc["full"], 2) for v, ms in per_doc.items()},
        "docs_per_s": {v: round(count / s, 1) for v, s in wall.items()},
    }


def search_parts(docs_count: int, queries: int = 200) -> dict[str, Any]:
    from datetime import date

    from werkzeug.datastructures import MultiDict

    from bench.enriched import load_cache
    from bench.index import search_prefix
    from bench.load import percentile
    from bench.search import query_mix
    from shared.clients import get_elasticsearch
    from shared.settings import Settings
    from web import search as web_search
    from web.backend import embed_query
    from web.params import parse_search_request

    settings = Settings(index_prefix=search_prefix(docs_count))
    es = get_elasticsearch(settings)
    options: dict[str, Any] = {"index": settings.articles_alias}
    mix = [q for q in query_mix(list(load_cache().values()), queries * 2) if q.get("q")]
    parts: dict[str, list[float]] = {}

    def timed(name: str, call: Any) -> Any:
        started = time.perf_counter()
        value = call()
        parts.setdefault(name, []).append(1000 * (time.perf_counter() - started))
        return value

    for number, params in enumerate(mix[: queries + 20]):
        if number == 20:
            parts.clear()  # the first 20 warm up
        args = MultiDict({k: str(v) for k, v in params.items() if not k.startswith("_")})
        request = parse_search_request(args, settings.web_page_size)
        bounds = timed(
            "1 bounds (min/max date)",
            lambda r=request: es.search(**options, **web_search.build_bounds_body(r)),
        )["aggregations"]
        first, last = (bounds[n].get("value_as_string") for n in ("first", "last"))
        interval = (
            web_search.choose_interval(
                date.fromisoformat(first[:10]), date.fromisoformat(last[:10])
            )
            if first and last
            else "month"
        )
        timed(
            "2 facets + timeline + spelling",
            lambda r=request, i=interval: es.search(
                **options, **web_search.build_facets_body(r, i)
            ),
        )
        body = web_search.build_hits_body(request)
        if not request.ranked_by_meaning:
            timed("3 keyword search, whole page", lambda b=body: es.search(**options, **b))
            continue
        keyword_body = body | {"size": web_search.FUSION_DEPTH, "from": 0, **web_search._IDS_ONLY}
        keyword_body.pop("highlight")
        timed("3 keyword top 100 (ids)", lambda b=keyword_body: es.search(**options, **b))
        vector = timed("4 query embedding (numpy)", lambda r=request: embed_query(r.query))
        knn = timed(
            "5 kNN top 100 (ids)",
            lambda r=request, v=vector: es.search(**options, **web_search._knn_body(r, v)),
        )
        ids = web_search._hit_ids(knn)[: request.size]
        timed(
            "6 page by ids + highlight",
            lambda b=body, i=ids: web_search._page_by_ids(es, options, b, i),
        )
    return {
        "index": settings.articles_alias,
        "queries": sum(len(v) for k, v in parts.items() if k.startswith("1")),
        "parts": {
            name: {
                "count": len(values),
                "p50_ms": round(percentile(values, 50), 2),
                "p99_ms": round(percentile(values, 99), 2),
                "mean_ms": round(sum(values) / len(values), 2),
            }
            for name, values in sorted(parts.items())
        },
    }


def embed_query_limits(queries: int = 200) -> dict[str, Any]:
    """Embedding one short query, the BLAS thread limit set with ``threadpool_limits()`` (which
    inspects the loaded libraries on every call: embedding/model.py before) or with a
    ``ThreadpoolController`` made once (after); interleaved, same queries."""
    from threadpoolctl import threadpool_limits

    from bench.enriched import load_cache
    from bench.search import query_mix
    from embedding import model as embedding

    embedding.warm_up()
    model = embedding._model()
    texts = [q["q"] for q in query_mix(list(load_cache().values()), queries) if q.get("q")]

    def before(text: str) -> None:
        with threadpool_limits(limits=embedding.THREADS, user_api="blas"):
            embedding._forward(model, [model.tokenizer.encode(text).ids])

    def after(text: str) -> None:
        embedding.embed_array([text])

    timings: dict[str, list[float]] = {"threadpool_limits per call": [], "controller once": []}
    for text in texts:
        for name, call in zip(timings, (before, after), strict=True):
            started = time.perf_counter()
            call(text)
            timings[name].append(1000 * (time.perf_counter() - started))
    with embedding._blas().limit(limits=1, user_api="blas"):
        limited = [p["num_threads"] for p in embedding._blas().info() if p["user_api"] == "blas"]
    from bench.load import percentile

    found = {
        name: {"p50_ms": round(percentile(v, 50), 2), "mean_ms": round(sum(v) / len(v), 2)}
        for name, v in timings.items()
    }
    return {
        "queries": len(texts),
        **found,
        "after_over_before_mean": round(
            found["controller once"]["mean_ms"] / found["threadpool_limits per call"]["mean_ms"], 3
        ),
        "blas_threads_inside_the_limit": limited,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "experiment",
        choices=("batch-size", "warm-up", "es-fields", "search-parts", "embed-query"),
    )
    parser.add_argument("--articles", type=int, default=100)
    parser.add_argument("--docs", type=int, default=10_000, help="search index size")
    args = parser.parse_args()
    if args.experiment == "batch-size":
        print(json.dumps(batch_sizes(args.articles), indent=1))
    elif args.experiment == "embed-query":
        print(json.dumps(embed_query_limits(), indent=1))
    elif args.experiment == "search-parts":
        print(json.dumps(search_parts(args.docs), indent=1))
    elif args.experiment == "es-fields":
        print(json.dumps(es_fields(), indent=1))
    else:
        print(json.dumps(warm_up_memory(args.articles), indent=1))


if __name__ == "__main__":
    main()
