"""``python -m bench``: measure ingest, enrichment, the pipeline, freshness, indexing and search
on the real stack, write ``bench/results/latest.json`` and the tables of docs/BENCHMARKS.md.

    python -m bench --mode quick      # a few minutes (make bench-quick)
    python -m bench --mode full       # 100,000-document search index (make bench)
    python -m bench --mode full --million   # also the 1,000,000-document case

Redis and Elasticsearch must be up (``make services-up``); the harness starts gunicorn and a
Celery worker itself on free ports, with its own index prefixes and queues.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench import corpus, enriched, report
from bench.housekeeping import delete_index, delete_redis_prefix
from bench.index import build_search_index, measure_raw_bulk, search_prefix
from bench.ingest import measure_ingest
from bench.pipeline import measure_pipeline
from bench.search import measure_search
from bench.stack import bench_env, start_gunicorn, stop
from shared.clients import get_elasticsearch, get_redis
from shared.settings import Settings

PHASES = ("ingest", "enrich", "pipeline", "bulk", "search", "million")


@dataclass(frozen=True)
class Plan:
    mode: str
    enrich_articles: int  # the in-process ceiling and the pipeline run use the same articles
    freshness_seconds: int
    ingest_batch_articles: int
    ingest_per_request: int
    ingest_single_articles: int
    ingest_single_clients: int
    bulk_docs: int
    index_docs: int
    index_distinct: int  # distinct enriched articles the search index is replicated from
    queries: int
    suggestions: int
    # Queries (of another seed) before the measured ones: the index's files into the page cache.
    search_warm_up: int = 50
    bulk_rounds: int = 2
    million_docs: int = 1_000_000


QUICK = Plan(
    mode="quick",
    enrich_articles=120,
    freshness_seconds=15,
    ingest_batch_articles=10_000,
    ingest_per_request=500,
    ingest_single_articles=3_000,
    ingest_single_clients=8,
    bulk_docs=1_000,
    index_docs=10_000,
    index_distinct=120,
    queries=150,
    suggestions=200,
    bulk_rounds=1,
)
FULL = Plan(
    mode="full",
    enrich_articles=800,
    freshness_seconds=60,
    ingest_batch_articles=50_000,
    ingest_per_request=500,
    ingest_single_articles=15_000,
    ingest_single_clients=8,
    bulk_docs=5_000,
    index_docs=100_000,
    index_distinct=10_000,  # every corpus article (capped at its 3,788)
    queries=1_000,
    suggestions=1_000,
    # The 1M index is 11 GB on disk: after 50 queries its first pass still read from disk
    # (p99 311 ms over HTTP, 68 ms on the second pass in-process).
    search_warm_up=300,
)


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _search_phase(
    plan: Plan, docs: dict[int, dict[str, Any]], count: int, log_dir: Path, rebuild: bool
) -> dict[str, Any]:
    built = build_search_index(docs, count, rebuild=rebuild)
    _log(f"search index {built['prefix']}: {built['docs']:,} docs ({built})")
    prefix = search_prefix(count)
    web = start_gunicorn("web", bench_env(prefix, f"bench-{prefix}"), log_dir)
    try:
        found = measure_search(
            Settings(index_prefix=prefix),
            web.url,
            list(docs.values()),
            queries=plan.queries,
            suggestions=plan.suggestions,
            warm_up=plan.search_warm_up,
        )
    finally:
        stop(web)
        # The web's request metrics, kept in Redis under the index prefix; the index stays.
        delete_redis_prefix(get_redis(Settings()), prefix)
    return found | {"index": built}


def run(
    plan: Plan, phases: set[str], *, rebuild: bool, profile: bool, keep: bool
) -> dict[str, Any]:
    settings = Settings()
    es, redis_client = get_elasticsearch(settings), get_redis(settings)
    cores = enriched.worker_count()
    log_dir = report.RESULTS / "logs"
    results: dict[str, Any] = {
        "mode": plan.mode,
        "date": report.now(),
        "machine": report.machine(),
        "versions": report.versions(es, redis_client),
        "plan": asdict(plan),
        "phase_seconds": {},
    }

    def phase(name: str) -> bool:
        if name in phases:
            results["phase_seconds"][name] = time.monotonic()
            _log(f"phase {name}")
            return True
        return False

    def done(name: str) -> None:
        results["phase_seconds"][name] = time.monotonic() - results["phase_seconds"][name]

    indices = corpus.distinct_indices(plan.enrich_articles)
    if phase("ingest"):
        found = measure_ingest(
            log_dir,
            batch_articles=plan.ingest_batch_articles,
            per_request=plan.ingest_per_request,
            batch_clients=cores,
            single_articles=plan.ingest_single_articles,
            single_clients=plan.ingest_single_clients,
        )
        results |= {k: found.pop(k) for k in ("ingest_batch_aps", "ingest_single_rps")}
        results["ingest"] = found
        done("ingest")

    if phase("enrich"):
        found = measure_enrichment_phase(indices, cores, settings)
        results["enrich_inprocess_aps"] = found["aps"]
        results["enrich_cpu_ms_per_article"] = found["cpu_ms_per_article"]
        results["enrichment"] = found
        done("enrich")

    if phase("pipeline"):
        used = set(indices)
        rest = [i for i in range(len(corpus.articles())) if i not in used]
        found = measure_pipeline(
            log_dir,
            indices,
            freshness_indices=rest,
            freshness_seconds=plan.freshness_seconds,
            profile_dir=report.RESULTS / "profiles" if profile else None,
        )
        results["pipeline_aps"] = found["pipeline_aps"]
        results["stack_cpu_ms_per_article"] = found["stack_cpu_ms_per_article"]
        results["worker_rss_mb"] = found["worker_rss_mb"]
        freshness = found.pop("freshness")
        results |= {k: freshness[k] for k in ("freshness_p50_s", "freshness_p99_s")}
        results["freshness"] = freshness
        results["pipeline"] = found
        if "enrich_inprocess_aps" in results:
            results["pipeline_efficiency"] = found["pipeline_aps"] / results["enrich_inprocess_aps"]
            # The same ratio in CPU: enrichment alone over everything the stack spent.
            results["pipeline_efficiency_cpu"] = (
                results["enrichment"]["cpu_ms_per_article"] / found["stack_cpu_ms_per_article"]
            )
        done("pipeline")

    docs: dict[int, dict[str, Any]] = {}
    if phases & {"bulk", "search", "million"}:
        wanted = corpus.distinct_indices(min(plan.index_distinct, len(corpus.articles())))
        _log(
            f"enriched corpus: {len(wanted)} distinct articles (cached in {enriched.cache_path()})"
        )
        docs = enriched.ensure_cached(wanted, cores)

    if phase("bulk"):
        found = measure_raw_bulk(docs, plan.bulk_docs, threads=cores, rounds=plan.bulk_rounds)
        results["es_bulk_raw_dps"] = found["es_bulk_raw_dps"]
        results["bulk"] = found
        done("bulk")

    if phase("search"):
        found = _search_phase(plan, docs, plan.index_docs, log_dir, rebuild)
        results |= {
            k: found[k]
            for k in (
                "search_p50_ms",
                "search_p99_ms",
                "autocomplete_p50_ms",
                "autocomplete_p99_ms",
            )
        }
        results["baseline_match_all_p50_ms"] = found["baseline_match_all"]["p50_ms"]
        results["search_p50_over_baseline"] = found["search_p50_over_baseline"]
        results["docs"] = found["index"]["docs"]
        results["search"] = found
        done("search")

    if phase("million"):
        found = _search_phase(plan, docs, plan.million_docs, log_dir, rebuild)
        results["search_p99_ms_at_1m"] = found["search_p99_ms"]
        results["search_p50_ms_at_1m"] = found["search_p50_ms"]
        results["search_1m"] = found
        if "search_p99_ms" in results:
            results["search_p99_1m_over_100k"] = found["search_p99_ms"] / results["search_p99_ms"]
        if not keep:
            delete_index(es, Settings(index_prefix=search_prefix(plan.million_docs)))
        done("million")

    results |= report.es_heap(es)
    results.setdefault("docs", 0)
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    results["targets"] = targets(results)
    return results


def measure_enrichment_phase(indices: list[int], cores: int, settings: Settings) -> dict[str, Any]:
    dup_prefix = "newsroom-bench-enrich"
    redis_client = get_redis(settings)
    delete_redis_prefix(redis_client, dup_prefix)
    try:
        found = enriched.measure_enrichment(
            indices, cores, redis_url=settings.redis_url, dup_prefix=dup_prefix
        )
    finally:
        delete_redis_prefix(redis_client, dup_prefix)
    enriched.append_cache(found.pop("docs"))
    found["mean_words"] = corpus.mean_words(indices)
    return found


def render_saved() -> None:
    for section, name in (("full", "recorded-full.json"), ("latest", "latest.json")):
        path = report.RESULTS / name
        if path.exists():
            saved = json.loads(path.read_text(encoding="utf-8"))
            report.update_doc(section, report.render(saved))
            if section == "full":
                report.plots(saved, report.DOC.parent)
            _log(f"rendered {name}")


def merge_into_recorded(results: dict[str, Any], phases: set[str]) -> dict[str, Any]:
    """The recorded full run with this partial run's figures in place of its own (the phases
    run now are listed under ``merged``; ratios spanning both runs are recomputed)."""
    path = report.RESULTS / "recorded-full.json"
    recorded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    keep = {"mode", "date", "machine", "versions", "plan", "phase_seconds", "targets"}
    recorded |= {key: value for key, value in results.items() if key not in keep}
    recorded.setdefault("merged", []).append(
        {
            "date": results["date"],
            "phases": sorted(phases),
            "load_average": results["machine"]["load_average"],
            "commit": results["versions"]["newsroom_commit"],
        }
    )
    if "search_p99_ms_at_1m" in recorded and "search_p99_ms" in recorded:
        recorded["search_p99_1m_over_100k"] = (
            recorded["search_p99_ms_at_1m"] / recorded["search_p99_ms"]
        )
    recorded["targets"] = targets(recorded)
    return recorded


def targets(results: dict[str, Any]) -> dict[str, Any]:
    return {
        key: {
            "target": f"{comparison} {target}",
            "measured": results.get(key),
            "met": report.met(key, results.get(key)),
        }
        for key, (comparison, target, _) in report.TARGETS.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("quick", "full"), default="quick")
    parser.add_argument("--million", action="store_true", help="also the 1,000,000-doc index")
    parser.add_argument("--only", help=f"comma-separated phases of {','.join(PHASES)}")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the search indices")
    parser.add_argument("--profile", action="store_true", help="py-spy the worker")
    parser.add_argument("--keep-million", action="store_true", help="keep the 1M index")
    parser.add_argument("--output", default="latest.json", help="file name in bench/results/")
    parser.add_argument("--docs", type=int, help="search index size (overrides the mode's)")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="add this (partial, full-mode) run's figures to recorded-full.json",
    )
    parser.add_argument(
        "--render",
        action="store_true",
        help="only rewrite docs/BENCHMARKS.md's tables and the plots from the saved results",
    )
    args = parser.parse_args()
    if args.render:
        render_saved()
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    plan = QUICK if args.mode == "quick" else FULL
    if args.docs:
        plan = replace(plan, index_docs=args.docs)
    phases = set(args.only.split(",")) if args.only else set(PHASES) - {"million"}
    if args.million:
        phases.add("million")
    unknown = phases - set(PHASES)
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    started = time.monotonic()
    results = run(plan, phases, rebuild=args.rebuild, profile=args.profile, keep=args.keep_million)
    results["total_seconds"] = round(time.monotonic() - started, 1)
    path = report.write_json(results, args.output)
    if args.output == "latest.json":
        report.update_doc("latest", report.render(results))
    recorded: dict[str, Any] | None = None
    if plan.mode == "full" and phases >= {"enrich", "pipeline", "search"}:
        recorded = results
    elif plan.mode == "full" and args.merge:
        recorded = merge_into_recorded(results, phases)
    if recorded is not None:
        report.write_json(recorded, "recorded-full.json")
        report.update_doc("full", report.render(recorded))
        report.plots(recorded, report.DOC.parent)
    _log(f"wrote {path} in {results['total_seconds']:.0f} s (tables: {report.DOC})")
    summary = {key: results.get(key) for key in report.TARGETS}
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
