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
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench import coldstart, corpus, dedup_scale, enriched, es_memory, report, scaling, stats
from bench.housekeeping import delete_index, delete_redis_prefix
from bench.index import build_search_index, measure_raw_bulk, search_prefix
from bench.ingest import measure_ingest
from bench.openloop import open_loop_phase
from bench.pipeline import measure_pipeline
from bench.search import measure_search
from bench.stack import bench_env, start_gunicorn, stop
from shared.clients import get_elasticsearch, get_redis
from shared.settings import Settings

PHASES = (
    "ingest",
    "enrich",
    "pipeline",
    "bulk",
    "search",
    "million",
    "openloop",
    "dedup",
    "scaling",
    "coldstart",
)


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
    bulk_rounds: int = 1  # sizes interleaved inside each of the rounds
    million_docs: int = 1_000_000
    # Rounds of every phase; baseline and candidate arms alternate within a run.
    rounds: int = 5
    # Seconds of each open-loop step (bench/openloop.py: one sweep idle, one with ingest).
    openloop_step_seconds: float = 20


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
    rounds=2,
    openloop_step_seconds=6,
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


def _figures(
    bench_run: stats.Run,
    results: dict[str, Any],
    calls: list[tuple[dict[str, Any], stats.Share]],
    keys: dict[str, str],
    *,
    warm_up: str | int | None,
    rename: dict[str, str] | None = None,
) -> None:
    """Record ``keys`` (key -> unit) of every round's result as figures of this run (median
    and interval over the rounds, disturbed rounds rejected); the median also at the top
    level of the results, under ``rename``'s name if given."""
    for key, unit in keys.items():
        rounds = stats.rounds_of(calls, key)
        if not rounds:
            continue
        name = (rename or {}).get(key, key)
        figure = bench_run.record(name, rounds, unit=unit, warm_up=warm_up)
        results[name] = figure["median"]


def _ratio(
    bench_run: stats.Run, results: dict[str, Any], key: str, numerator: str, denominator: str
) -> None:
    """A ratio of two figures of this run (Run.ratio refuses any other)."""
    if numerator in bench_run.figures and denominator in bench_run.figures:
        results[key] = bench_run.ratio(key, numerator, denominator)["median"]


# Figures read from every search round: every numeric key of measure_search's result whose
# name ends in a unit.
_UNITS = {"_ms": "ms", "_qps": "queries/s", "_s": "s", "_mb": "MB", "_aps": "articles/s"}


def _numeric_keys(found: dict[str, Any]) -> dict[str, str]:
    return {
        key: unit
        for key, value in found.items()
        for suffix, unit in _UNITS.items()
        if key.endswith(suffix) and isinstance(value, int | float) and not isinstance(value, bool)
    }


def _search_rounds(
    plan: Plan,
    docs: dict[int, dict[str, Any]],
    sizes: dict[str, int],
    log_dir: Path,
    rebuild: bool,
    services: list[int],
    pinning: stats.Pinning,
) -> tuple[dict[str, list[tuple[dict[str, Any], stats.Share]]], dict[str, dict[str, Any]]]:
    """Build the search index of every size, start a web for each, then ``plan.rounds`` rounds
    of the query mix against each, alternating (100k, 1M, 1M, 100k, ...): the 1M/100k ratio
    from rounds of one run, side by side in time."""
    built = {}
    for arm, count in sizes.items():
        built[arm] = build_search_index(docs, count, rebuild=rebuild)
        _log(f"search index {built[arm]['prefix']}: {built[arm]['docs']:,} docs ({built[arm]})")
    webs = {}
    try:
        for arm, count in sizes.items():
            prefix = search_prefix(count)
            webs[arm] = start_gunicorn("web", bench_env(prefix, f"bench-{prefix}"), log_dir)
            if pinning["applied"]:
                stats.pin(webs[arm].process.pid, pinning["services"])

        def measure(arm: str) -> Callable[[int], dict[str, Any]]:
            def one(number: int) -> dict[str, Any]:
                _log(f"search round {number + 1}/{plan.rounds}: {arm}")
                return measure_search(
                    Settings(index_prefix=search_prefix(sizes[arm])),
                    webs[arm].url,
                    list(docs.values()),
                    queries=plan.queries,
                    suggestions=plan.suggestions,
                    warm_up=plan.search_warm_up,
                )

            return one

        if pinning["applied"]:
            os.sched_setaffinity(0, set(pinning["load_generator"]))
        try:
            calls = stats.interleave_calls(
                plan.rounds, {arm: measure(arm) for arm in sizes}, services
            )
        finally:
            if pinning["applied"]:
                os.sched_setaffinity(0, set(pinning["load_generator"]) | set(pinning["services"]))
        for arm, count in sizes.items():
            # Elasticsearch's memory with this index just searched (bench/es_memory.py).
            built[arm]["es_memory"] = es_memory.measure(
                get_elasticsearch(Settings()),
                Settings(index_prefix=search_prefix(count)).articles_alias,
            )
    finally:
        for web in webs.values():
            stop(web)
        for count in sizes.values():
            # The web's request metrics, kept in Redis under the index prefix; the index stays.
            delete_redis_prefix(get_redis(Settings()), search_prefix(count))
    return calls, built


def _es_memory_figures(
    bench_run: stats.Run,
    results: dict[str, Any],
    built: dict[str, dict[str, Any]],
    sizes: dict[str, int],
) -> None:
    """Elasticsearch's memory beside each search index (one reading each, after its rounds)."""
    for arm, count in sizes.items():
        found = built[arm].get("es_memory")
        if not found:
            continue
        label = dedup_scale.label(count)
        what = f"after the search rounds on the {count:,}-document index"
        readings = {
            f"es_heap_after_gc_mb_{label}": (found["es_heap_after_gc_mb"], "MB"),
            f"es_vectors_off_heap_mb_{label}": (found["off_heap_mb"].get("total"), "MB"),
            f"es_index_resident_mb_{label}": (found["index_resident_mb"], "MB"),
            f"es_index_on_disk_mb_{label}": (found["index_on_disk_mb"], "MB"),
        }
        for key, (value, unit) in readings.items():
            if isinstance(value, int | float):
                bench_run.record(key, [value], unit=unit, what=what, warm_up="search rounds")
                results[key] = value
        results[f"es_memory_{label}"] = found


def _pooled_p99(calls: list[tuple[dict[str, Any], stats.Share]]) -> dict[str, Any]:
    """The p99 of every round's latencies pooled, with its order-statistics interval."""
    pooled = [x for found, _ in calls for x in found.get("latencies_ms", [])]
    if not pooled:
        return {}
    return stats.quantile_interval(pooled, 0.99).as_dict()


def run(
    plan: Plan,
    phases: set[str],
    *,
    rebuild: bool,
    profile: bool,
    keep: bool,
    min_share: float = stats.MIN_SHARE,
) -> dict[str, Any]:
    settings = Settings()
    es, redis_client = get_elasticsearch(settings), get_redis(settings)
    cores = enriched.worker_count()
    log_dir = report.RESULTS / "logs"
    bench_run = stats.Run.here(min_share)
    # Elasticsearch and Redis are counted in every round's machine share (read, never changed).
    services = stats.service_pids()
    pinning = stats.plan_cores()
    results: dict[str, Any] = {
        "mode": plan.mode,
        "date": report.now(),
        "machine": report.machine(),
        "versions": report.versions(es, redis_client),
        "plan": asdict(plan),
        "run": {
            "run_id": bench_run.run_id,
            "commit": bench_run.commit,
            "started": bench_run.started,
            "rounds": plan.rounds,
            "min_share": min_share,
            "interval": "median of the rounds; 95% distribution-free interval from order "
            "statistics (for 5 rounds the range of the rounds, 93.75%)",
            "machine_share": "CPU time of our processes (the bench, every process it started, "
            "Elasticsearch, Redis) over the whole machine's busy CPU time; rounds below "
            "min_share rejected; wait_share beside it: run / (run + runnable wait), schedstat",
            "pinning": pinning,
            "services_measured": services,
        },
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

        def ingest_round(number: int) -> dict[str, Any]:
            _log(f"ingest round {number + 1}/{plan.rounds}")
            return measure_ingest(
                log_dir,
                batch_articles=plan.ingest_batch_articles,
                per_request=plan.ingest_per_request,
                batch_clients=cores,
                single_articles=plan.ingest_single_articles,
                single_clients=plan.ingest_single_clients,
            )

        calls = stats.interleave_calls(plan.rounds, {"ingest": ingest_round}, services)["ingest"]
        _figures(
            bench_run,
            results,
            calls,
            {"ingest_batch_aps": "articles/s", "ingest_single_rps": "requests/s"},
            warm_up="each client's first requests (bench/ingest.py)",
        )
        results["ingest"] = {k: v for k, v in calls[-1][0].items() if not k.startswith("ingest_")}
        done("ingest")

    # Enrichment in-process (the ceiling) and the pipeline, interleaved round by round, so
    # that pipeline_efficiency is a ratio of rounds side by side in time.
    arms: dict[str, Callable[[int], dict[str, Any]]] = {}
    if phase("enrich"):

        def enrich_round(number: int) -> dict[str, Any]:
            _log(f"enrich round {number + 1}/{plan.rounds}")
            return measure_enrichment_phase(indices, cores, settings, cache=number == 0)

        arms["enrich"] = enrich_round
    if phase("pipeline"):
        used = set(indices)
        rest = [i for i in range(len(corpus.articles())) if i not in used]

        def pipeline_round(number: int) -> dict[str, Any]:
            _log(f"pipeline round {number + 1}/{plan.rounds}")
            with stats.PeakRss("celery") as peak:
                found = measure_pipeline(
                    log_dir,
                    indices,
                    freshness_indices=rest,
                    freshness_seconds=plan.freshness_seconds,
                    profile_dir=report.RESULTS / "profiles" if profile and number == 0 else None,
                )
            # VmHWM of every worker process, polled through the run (warm-up, measured
            # articles, freshness): the peak beside the settled worker_rss_mb.
            found["worker_peak_rss_mb"] = max(found.get("worker_peak_rss_mb", 0.0), peak.peak())
            found["worker_peak_rss_mb_per_process"] = {
                str(pid): round(mb, 1) for pid, mb in sorted(peak.peak_mb.items())
            }
            freshness = found.get("freshness") or {}
            found |= {
                k: freshness[k] for k in ("freshness_p50_s", "freshness_p99_s") if k in freshness
            }
            return found

        arms["pipeline"] = pipeline_round
    if arms:
        by_arm = stats.interleave_calls(plan.rounds, arms, services)
        if "enrich" in by_arm:
            calls = by_arm["enrich"]
            _figures(
                bench_run,
                results,
                calls,
                {"aps": "articles/s", "cpu_ms_per_article": "CPU ms/article"},
                warm_up="one article per process before timing (bench/enriched.py)",
                rename={
                    "aps": "enrich_inprocess_aps",
                    "cpu_ms_per_article": "enrich_cpu_ms_per_article",
                },
            )
            results["enrichment"] = calls[-1][0]
            done("enrich")
        if "pipeline" in by_arm:
            calls = by_arm["pipeline"]
            _figures(
                bench_run,
                results,
                calls,
                {
                    "pipeline_aps": "articles/s",
                    "stack_cpu_ms_per_article": "CPU ms/article",
                    "worker_rss_mb": "MB",
                    "worker_peak_rss_mb": "MB",
                    "freshness_p50_s": "s",
                    "freshness_p99_s": "s",
                },
                warm_up="one task per worker process (bench/pipeline.py)",
            )
            last = dict(calls[-1][0])
            results["freshness"] = last.pop("freshness", {})
            results["pipeline"] = last
            done("pipeline")
        _ratio(bench_run, results, "pipeline_efficiency", "pipeline_aps", "enrich_inprocess_aps")
        # The same ratio in CPU: enrichment alone over everything the stack spent.
        _ratio(
            bench_run,
            results,
            "pipeline_efficiency_cpu",
            "enrich_cpu_ms_per_article",
            "stack_cpu_ms_per_article",
        )

    docs: dict[int, dict[str, Any]] = {}
    if phases & {"bulk", "search", "million", "openloop"}:
        wanted = corpus.distinct_indices(min(plan.index_distinct, len(corpus.articles())))
        _log(
            f"enriched corpus: {len(wanted)} distinct articles (cached in {enriched.cache_path()})"
        )
        docs = enriched.ensure_cached(wanted, cores)

    if phase("bulk"):

        def bulk_round(number: int) -> dict[str, Any]:
            _log(f"bulk round {number + 1}/{plan.rounds}")
            return measure_raw_bulk(docs, plan.bulk_docs, threads=cores, rounds=plan.bulk_rounds)

        calls = stats.interleave_calls(plan.rounds, {"bulk": bulk_round}, services)["bulk"]
        _figures(bench_run, results, calls, {"es_bulk_raw_dps": "docs/s"}, warm_up=None)
        results["bulk"] = calls[-1][0]
        done("bulk")

    sizes = {}
    if phase("search"):
        sizes["search"] = plan.index_docs
    if phase("million"):
        sizes["million"] = plan.million_docs
    if sizes:
        warm_up = f"{plan.search_warm_up} queries of another seed per round"
        by_arm, built = _search_rounds(plan, docs, sizes, log_dir, rebuild, services, pinning)
        _es_memory_figures(bench_run, results, built, sizes)
        if "search" in by_arm:
            calls = by_arm["search"]
            found = calls[-1][0]
            base = [
                (dict(found_round["baseline_match_all"]), share)
                for found_round, share in calls
                if "baseline_match_all" in found_round
            ]
            _figures(bench_run, results, calls, _numeric_keys(found), warm_up=warm_up)
            _figures(
                bench_run,
                results,
                base,
                {"p50_ms": "ms", "p99_ms": "ms"},
                warm_up=warm_up,
                rename={
                    "p50_ms": "baseline_match_all_p50_ms",
                    "p99_ms": "baseline_match_all_p99_ms",
                },
            )
            _ratio(
                bench_run,
                results,
                "search_p50_over_baseline",
                "search_p50_ms",
                "baseline_match_all_p50_ms",
            )
            results["docs"] = built["search"]["docs"]
            results["search"] = found | {
                "index": built["search"],
                "p99_pooled_over_rounds": _pooled_p99(calls),
            }
            done("search")
        if "million" in by_arm:
            calls = by_arm["million"]
            # Every figure of the 100k rounds at 1M too (search_p99_ms_at_1m, ...).
            keys = _numeric_keys(calls[-1][0])
            at_1m = {key: f"{key}_at_1m" for key in keys}
            _figures(bench_run, results, calls, keys, warm_up=warm_up, rename=at_1m)
            results["search_1m"] = calls[-1][0] | {
                "index": built["million"],
                "p99_pooled_over_rounds": _pooled_p99(calls),
            }
            # Rounds of the same run, alternating with the 100k rounds: never a figure of
            # another run (merge_into_recorded drops it rather than recompute it).
            _ratio(
                bench_run,
                results,
                "search_p99_1m_over_100k",
                "search_p99_ms_at_1m",
                "search_p99_ms",
            )
            if not keep:
                delete_index(es, Settings(index_prefix=search_prefix(plan.million_docs)))
            done("million")

    if phase("openloop"):
        found = open_loop_phase(
            docs,
            plan.index_docs,
            log_dir,
            seconds=plan.openloop_step_seconds,
            warm_up=plan.search_warm_up,
        )
        for key in (
            "search_qps_at_p99_80ms",
            "search_qps_at_p99_80ms_with_ingest",
            "search_qps_at_p99_1s",
            "search_qps_at_p99_1s_with_ingest",
        ):
            if key in found:
                # One sweep each (idle, then with ingest, minutes apart in this run): the
                # highest step rate within the target, its steps' figures beside it.
                bench_run.record(
                    key,
                    [found[key]],
                    unit="queries/s",
                    warm_up=f"{found['warm_up_queries']} queries, then rising steps",
                    what="open loop, p99 from the scheduled send time within "
                    + ("80 ms" if "80ms" in key else "1 s"),
                )
                results[key] = found[key]
        results["openloop"] = found
        done("openloop")

    # The missing measures (issue 18 item 6), each recording its figures into the run.
    scaling_plan = scaling.PLANS[plan.mode]
    own_phases: dict[str, Callable[[], dict[str, Any]]] = {
        "dedup": lambda: dedup_scale.measure(
            dedup_scale.sizes_for(plan.mode, "million" in phases), run=bench_run
        ),
        "scaling": lambda: scaling.measure(
            log_dir, corpus.distinct_indices(scaling_plan.articles + 200), scaling_plan, bench_run
        ),
        "coldstart": lambda: coldstart.measure(log_dir, coldstart.ROUNDS[plan.mode], bench_run),
    }
    for name, measure in own_phases.items():
        if phase(name):
            results[name] = measure()
            done(name)

    results |= report.es_heap(es)
    results.setdefault("docs", 0)
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    results["figures"] = bench_run.figures
    # Figures the phases recorded straight into the run (bench.dedup_scale, scaling, ...):
    # their medians at the top level too, beside the others'.
    for key, figure in bench_run.figures.items():
        results.setdefault(key, figure["median"])
    results["targets"] = targets(results)
    return results


def measure_enrichment_phase(
    indices: list[int], cores: int, settings: Settings, *, cache: bool = True
) -> dict[str, Any]:
    dup_prefix = "newsroom-bench-enrich"
    redis_client = get_redis(settings)
    delete_redis_prefix(redis_client, dup_prefix)
    try:
        found = enriched.measure_enrichment(
            indices, cores, redis_url=settings.redis_url, dup_prefix=dup_prefix
        )
    finally:
        delete_redis_prefix(redis_client, dup_prefix)
    docs = found.pop("docs")
    if cache:
        enriched.append_cache(docs)
    found["mean_words"] = corpus.mean_words(indices)
    return found


def render_saved() -> None:
    # The leading table: the latest full run (latest.json if it is one, else the recorded).
    for name in ("latest.json", "recorded-full.json"):
        path = report.RESULTS / name
        if path.exists():
            saved = json.loads(path.read_text(encoding="utf-8"))
            if saved.get("mode") == "full":
                report.update_doc("summary", "\n".join(report.summary_table(saved)))
                break
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
    run now are listed under ``merged``). A ratio is never recomputed across the two runs: one
    whose parts are not all from the same run is dropped and listed under ``refused_ratios``."""
    path = report.RESULTS / "recorded-full.json"
    recorded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    keep = {"mode", "date", "machine", "versions", "plan", "phase_seconds", "targets", "run"}
    keep |= {"figures"}
    recorded |= {key: value for key, value in results.items() if key not in keep}
    figures: dict[str, Any] = recorded.setdefault("figures", {})
    figures |= results.get("figures", {})
    recorded.setdefault("merged", []).append(
        {
            "date": results["date"],
            "phases": sorted(phases),
            "load_average": results["machine"]["load_average"],
            "commit": results["versions"]["newsroom_commit"],
            "run_id": (results.get("run") or {}).get("run_id"),
        }
    )
    refused = recorded.setdefault("refused_ratios", [])
    for key, parts in report.RATIOS.items():
        mixed = key not in results and any(part in results for part in parts)
        figure = figures.get(key)
        if figure is not None:
            try:
                stats.check_same_run(figure, *(figures.get(part, {}) for part in parts))
            except stats.CrossRunRatioError:
                mixed = True
        if mixed and (key in recorded or figure is not None):
            recorded.pop(key, None)
            figures.pop(key, None)
            refused.append({"ratio": key, "parts": list(parts), "date": results["date"]})
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
    parser.add_argument("--rounds", type=int, help="rounds of every phase (overrides the mode's)")
    parser.add_argument(
        "--min-share",
        type=float,
        default=stats.MIN_SHARE,
        help="reject rounds whose processes got less than this share of the CPU they asked",
    )
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
    if args.rounds:
        plan = replace(plan, rounds=args.rounds)
    phases = set(args.only.split(",")) if args.only else set(PHASES) - {"million"}
    if args.million:
        phases.add("million")
    unknown = phases - set(PHASES)
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    started = time.monotonic()
    results = run(
        plan,
        phases,
        rebuild=args.rebuild,
        profile=args.profile,
        keep=args.keep_million,
        min_share=args.min_share,
    )
    results["total_seconds"] = round(time.monotonic() - started, 1)
    path = report.write_json(results, args.output)
    if args.output == "latest.json":
        report.update_doc("latest", report.render(results))
    recorded: dict[str, Any] | None = None
    if plan.mode == "full" and phases >= {"enrich", "pipeline", "search"}:
        recorded = results
    elif plan.mode == "full" and args.merge:
        recorded = merge_into_recorded(results, phases)
    if plan.mode == "full" and args.output == "latest.json":
        report.update_doc("summary", "\n".join(report.summary_table(results)))
    if recorded is not None:
        report.write_json(recorded, "recorded-full.json")
        report.update_doc("full", report.render(recorded))
        report.plots(recorded, report.DOC.parent)
    _log(f"wrote {path} in {results['total_seconds']:.0f} s (tables: {report.DOC})")
    summary = {key: results.get(key) for key in report.TARGETS}
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
