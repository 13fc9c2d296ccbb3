"""The benchmark's outputs: ``bench/results/latest.json``, the generated tables of
docs/BENCHMARKS.md (between its ``bench:`` markers; the prose around them is written by hand)
and, for a full run, the plots beside it."""

from __future__ import annotations

import json
import math
import operator
import os
import platform
import re
import subprocess
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "BENCHMARKS.md"

# key -> (comparison, target, what it is)
TARGETS: dict[str, tuple[str, float, str]] = {
    "pipeline_efficiency": (">=", 0.90, "pipeline_aps / enrich_inprocess_aps"),
    "pipeline_aps": (">=", 40, "articles/s posted → indexed, full enrichment"),
    "ingest_batch_aps": (">=", 5000, "articles/s accepted, NDJSON batches"),
    "ingest_single_rps": (">=", 1500, "single-article POSTs/s, concurrent clients"),
    "freshness_p99_s": ("<=", 3, "s from POST to searchable, p99, at half the pipeline rate"),
    "search_p50_ms": ("<=", 20, "ms, /api/search, query mix"),
    "search_p99_ms": ("<=", 80, "ms, /api/search, query mix"),
    "autocomplete_p99_ms": ("<=", 30, "ms, /api/suggest"),
    "worker_rss_mb": ("<=", 700, "MB resident per worker process after the run"),
    "worker_peak_rss_mb": ("<=", 700, "MB, peak resident (VmHWM, polled) of any worker process"),
    "search_p99_1m_over_100k": ("<=", 2, "search p99 at 1M docs / at 100k"),
}
_COMPARE: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le}

# Ratios and their parts: a ratio is only ever made of parts of one run (bench.stats.Run.ratio;
# merge_into_recorded drops a ratio whose parts it would mix).
RATIOS: dict[str, tuple[str, str]] = {
    "pipeline_efficiency": ("pipeline_aps", "enrich_inprocess_aps"),
    "pipeline_efficiency_cpu": ("enrich_cpu_ms_per_article", "stack_cpu_ms_per_article"),
    "search_p50_over_baseline": ("search_p50_ms", "baseline_match_all_p50_ms"),
    "search_p99_1m_over_100k": ("search_p99_ms_at_1m", "search_p99_ms"),
}

# What each figure is compared with besides its target: a peer measured on the same machine in
# the same run, or a physical limit. Keys of the results in braces are filled in from the run.
COMPARED: dict[str, str] = {
    "pipeline_aps": "ceiling: enrichment alone in-process on the same cores, "
    "{enrich_inprocess_aps} articles/s (same run)",
    "pipeline_efficiency": "1.0: the pipeline as fast as enrichment alone",
    "pipeline_efficiency_cpu": "1.0: no CPU spent outside enrichment",
    "enrich_inprocess_aps": "CPU bound: cores × 1000 / {enrich_cpu_ms_per_article} CPU ms",
    "ingest_batch_aps": "peer: raw Elasticsearch _bulk, {es_bulk_raw_dps} docs/s (same run)",
    "ingest_single_rps": "peer: gunicorn + Redis, one POST per article; batches do "
    "{ingest_batch_aps}/s",
    "freshness_p99_s": "floor: the index refresh interval (1 s) + one worker batch",
    "freshness_p50_s": "floor: the index refresh interval (1 s)",
    "search_p50_ms": "floor: bare match_all round trip, p50 {baseline_match_all_p50_ms} ms "
    "(same run)",
    "search_p99_ms": "floor: bare match_all round trip, p99 {baseline_match_all_p99_ms} ms "
    "(same run)",
    "search_p99_ms_at_1m": "the 100k index's p99, {search_p99_ms} ms (rounds alternating)",
    "search_p99_1m_over_100k": "1.0: latency independent of size; 10: linear in documents",
    "search_p50_over_baseline": "1.0: a search as cheap as match_all",
    "autocomplete_p99_ms": "floor: bare match_all round trip, p99 {baseline_match_all_p99_ms} ms",
    "worker_rss_mb": "machine memory {memory_gb} GB over the worker processes",
    "worker_peak_rss_mb": "settled after the run: {worker_rss_mb} MB",
    "es_bulk_raw_dps": "Elasticsearch alone (no enrichment): the indexing ceiling",
    "search_qps_at_p99_80ms": "one client at a time: 1000 / p50 = {sequential_qps} queries/s",
    "search_qps_at_p99_80ms_with_ingest": "without ingest: {search_qps_at_p99_80ms} queries/s "
    "(same run)",
    "workers_2_over_1": "2.0: linear in workers (2 cores)",
    "near_dup_bytes_per_entry_1m": "the signature alone: 128 minima × 4 bytes = 512 bytes; "
    "at 10k entries {near_dup_bytes_per_entry_10k} bytes (same run)",
    "near_dup_lookup_ms_1m": "at 10k entries {near_dup_lookup_ms_10k} ms (same run)",
    "near_dup_lookup_single_ms_1m": "at 10k entries {near_dup_lookup_single_ms_10k} ms (same run)",
}


def met(key: str, value: float | None) -> bool | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    comparison, target, _ = TARGETS[key]
    return _COMPARE[comparison](value, target)


def _command(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def machine() -> dict[str, Any]:
    memory_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kb = int(line.split()[1])
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "cores": len(os.sched_getaffinity(0)),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "cpu": model,
        "kernel": platform.release(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def versions(es: Any, redis_client: Any) -> dict[str, str]:
    found = {
        "python": platform.python_version(),
        "newsroom_commit": _command(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
    }
    for package in ("flask", "gunicorn", "celery", "redis", "elasticsearch", "spacy", "numpy"):
        found[f"{package}_py"] = version(package)
    nodes = es.nodes.info(node_id="_local", metric="jvm")["nodes"]
    node = next(iter(nodes.values()))
    found["elasticsearch_server"] = node["version"]
    found["jvm"] = node["jvm"]["version"]
    found["redis_server"] = redis_client.info("server")["redis_version"]
    return found


def es_heap(es: Any) -> dict[str, float]:
    stats = es.nodes.stats(node_id="_local", metric="jvm")["nodes"]
    memory = next(iter(stats.values()))["jvm"]["mem"]
    return {
        "es_heap_mb": round(memory["heap_used_in_bytes"] / 2**20, 1),
        "es_heap_max_mb": round(memory["heap_max_in_bytes"] / 2**20, 1),
    }


def write_json(results: Mapping[str, Any], name: str = "latest.json") -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def targets_table(results: Mapping[str, Any]) -> list[str]:
    lines = ["| measure | target | measured | met |", "| --- | --- | ---: | :---: |"]
    for key, (comparison, target, what) in TARGETS.items():
        value = results.get(key)
        verdict = {True: "yes", False: "**no**", None: "not run"}[met(key, value)]
        lines.append(
            f"| `{key}` ({what}) | {comparison} {_fmt(float(target))} | {_fmt(value)} | {verdict} |"
        )
    return lines


# The phases each ratio's parts come from (to tell a merged record's mixed ratios).
RATIO_PHASES: dict[str, tuple[str, ...]] = {
    "pipeline_efficiency": ("pipeline", "enrich"),
    "pipeline_efficiency_cpu": ("pipeline", "enrich"),
    "search_p50_over_baseline": ("search",),
    "search_p99_1m_over_100k": ("search", "million"),
}


def mixed_ratios(results: Mapping[str, Any]) -> set[str]:
    """Ratios of a record whose parts a later partial run replaced only in part (records from
    before bench.stats, whose ratios carry no run id): never shown as figures."""
    mixed = set()
    for run in results.get("merged") or []:
        again = set(run.get("phases", []))
        for key, phases in RATIO_PHASES.items():
            if again & set(phases) and not set(phases) <= again:
                mixed.add(key)
    return mixed


def _interval(figure: Mapping[str, Any]) -> str:
    if "low" not in figure:
        return "none: one run"
    return (
        f"{_fmt(figure.get('low'))}–{_fmt(figure.get('high'))} "
        f"({100 * float(figure.get('confidence', 0)):.1f}%, n={figure.get('n')})"
    )


def _compared(key: str, results: Mapping[str, Any]) -> str:
    text = COMPARED.get(key, "")
    values = dict(results) | {"memory_gb": (results.get("machine") or {}).get("memory_gb")}
    if results.get("search_p50_ms"):
        values["sequential_qps"] = 1000 / float(results["search_p50_ms"])
    for name in re.findall(r"\{(\w+)\}", text):
        value = values.get(name)
        text = text.replace("{" + name + "}", _fmt(value) if value is not None else "(not run)")
    return text


def summary_table(results: Mapping[str, Any]) -> list[str]:
    """The one table docs/BENCHMARKS.md leads with: every figure of one run, its median and
    95% interval over the rounds, its target, what it is compared with, and its provenance."""
    figures: Mapping[str, Mapping[str, Any]] = results.get("figures") or {}
    if not figures:
        # A run from before bench.stats: one unrepeated measurement per figure, no interval.
        date = results.get("date", "")
        commit = (results.get("versions") or {}).get("newsroom_commit", "")
        figures = {
            key: {"median": results[key], "n": 1, "unit": "", "commit": f"{commit} ({date})"}
            for key in TARGETS
            if isinstance(results.get(key), int | float) and key not in mixed_ratios(results)
        }
        if not figures:
            return []
    order = [key for key in TARGETS if key in figures]
    order += sorted(key for key in figures if key not in TARGETS)
    lines = [
        "| figure | median | interval | target | compared with | share | commit |",
        "| --- | ---: | --- | --- | --- | ---: | --- |",
    ]
    for key in order:
        figure = figures[key]
        target = ""
        if key in TARGETS:
            comparison, bound, _ = TARGETS[key]
            verdict = {True: "met", False: "**not met**", None: ""}[met(key, figure["median"])]
            target = f"{comparison} {_fmt(float(bound))} {verdict}".strip()
        flag = " (disturbed)" if figure.get("disturbed") else ""
        rejected = figure.get("rejected_rounds") or 0
        share = _fmt(figure.get("machine_share"))
        if rejected:
            share += f", {rejected} rounds rejected"
        lines.append(
            f"| `{key}` {figure.get('unit', '')}{flag}".rstrip() + f" | {_fmt(figure['median'])} | "
            f"{_interval(figure)} | {target} | {_compared(key, results)} | {share} | "
            f"{figure.get('commit', '')} |"
        )
    run = results.get("run") or {}
    if not run:
        return [
            *lines,
            "",
            "One unrepeated run per figure (from before repeated rounds): no interval. "
            + (
                f"Left out, their parts being from two runs: {', '.join(sorted(mixed))}."
                if (mixed := mixed_ratios(results))
                else ""
            ),
        ]
    lines += [
        "",
        f"Run {run.get('run_id')} of commit {run.get('commit')}, started {run.get('started')}, "
        f"{run.get('rounds')} rounds per figure, arms alternating; {run.get('interval')}. "
        f"Machine share: {run.get('machine_share')} (minimum {run.get('min_share')}); "
        f"the lowest share among a figure's kept rounds is shown. Cores: "
        f"{(run.get('pinning') or {}).get('note')}.",
    ]
    return lines


def ratios_table(results: Mapping[str, Any]) -> list[str]:
    """Each throughput beside the baseline measured in the same run."""
    rows = [
        ("pipeline_aps", "enrich_inprocess_aps", "pipeline_efficiency"),
        ("enrich_cpu_ms_per_article", "stack_cpu_ms_per_article", "pipeline_efficiency_cpu"),
        ("pipeline_aps", "es_bulk_raw_dps", None),
        ("search_p50_ms", "baseline_match_all_p50_ms", "search_p50_over_baseline"),
        ("autocomplete_p50_ms", "baseline_match_all_p50_ms", None),
        ("search_p99_ms", "search_p99_ms_at_1m", "search_p99_1m_over_100k"),
    ]
    lines = ["| measure | baseline (same run) | ratio |", "| --- | --- | ---: |"]
    for key, base, ratio_key in rows:
        value, reference = results.get(key), results.get(base)
        if value is None or reference is None:
            continue
        ratio = results.get(ratio_key) if ratio_key else None
        # Only ever a ratio of two figures of one run: never across a merged-in run.
        figures = results.get("figures") or {}
        same_run = key in figures and base in figures
        if same_run and figures[key].get("run_id") != figures[base].get("run_id"):
            same_run = False
        if ratio is None and reference and (same_run or not results.get("merged")):
            ratio = value / reference
        lines.append(f"| `{key}` = {_fmt(value)} | `{base}` = {_fmt(reference)} | {_fmt(ratio)} |")
    return lines


def cpu_table(results: Mapping[str, Any]) -> list[str]:
    """CPU per article and what the cores would do with nothing else running: the figures
    that other work on a shared machine moves least."""
    rows: list[tuple[str, Any, Any, Any]] = []
    enrichment = results.get("enrichment") or {}
    if enrichment:
        rows.append(
            (
                "enrichment, in-process loop",
                enrichment.get("cpu_ms_per_article"),
                enrichment.get("cpu_bound_aps"),
                None,
            )
        )
    pipeline = results.get("pipeline") or {}
    if pipeline:
        rows.append(
            (
                "pipeline (worker + ingest + Redis + Elasticsearch)",
                pipeline.get("stack_cpu_ms_per_article"),
                pipeline.get("cpu_bound_aps"),
                pipeline.get("machine_share"),
            )
        )
    bulk = results.get("bulk") or {}
    if bulk.get("es_cpu_ms_per_doc"):
        per_doc = float(bulk["es_cpu_ms_per_doc"])
        cores = (results.get("machine") or {}).get("cores") or 2
        rows.append(
            ("raw _bulk, 500 per request (Elasticsearch)", per_doc, 1000 * cores / per_doc, None)
        )
    for name in ("batch", "single"):
        part = (results.get("ingest") or {}).get(name) or {}
        if part:
            rows.append(
                (
                    f"ingest, {name} (gunicorn + Redis)",
                    part.get("server_cpu_ms_per_article"),
                    part.get("cpu_bound_aps"),
                    part.get("machine_share"),
                )
            )
    if not rows:
        return []
    lines = [
        "| work | CPU ms per article | articles/s on idle cores | share of the machine it got |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [f"| {a} | {_fmt(b)} | {_fmt(c)} | {_fmt(d)} |" for a, b, c, d in rows]
    return lines


def steps_table(results: Mapping[str, Any]) -> list[str]:
    enrichment = results.get("enrichment") or {}
    steps = enrichment.get("ms_per_step") or {}
    if not steps:
        return []
    total = sum(steps.values())
    # Wall time per step includes waiting for a core; the CPU time of the whole loop shared out
    # by those proportions is what each step costs.
    cpu = float(enrichment.get("cpu_ms_per_article") or 0)
    lines = [
        "| step | wall ms per article | share | ≈ CPU ms per article |",
        "| --- | ---: | ---: | ---: |",
    ]
    for step, ms in sorted(steps.items(), key=lambda item: -item[1]):
        if ms >= 0.05:
            lines.append(
                f"| {step} | {ms:.1f} | {100 * ms / total:.0f}% | {cpu * ms / total:.1f} |"
            )
    lines.append(f"| **all steps** | **{total:.1f}** | | **{cpu:.1f}** |")
    return lines


def render(results: Mapping[str, Any]) -> str:
    """The generated part of docs/BENCHMARKS.md for one run."""
    m, v = results["machine"], results["versions"]
    lines = [
        f"Mode **{results['mode']}**, {results['date']}, {results['docs']:,} documents in the "
        f"search index; {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB; load average "
        f"{m['load_average']} at the start and {results.get('load_average_after')} at the end "
        f"(other work shares this machine). Elasticsearch {v['elasticsearch_server']} (heap "
        f"{_fmt(results.get('es_heap_max_mb'))} MB), Redis {v['redis_server']}, Python "
        f"{v['python']}, spaCy {v['spacy_py']}, Celery {v['celery_py']}, gunicorn "
        f"{v['gunicorn_py']}; commit {v['newsroom_commit']}. Phase times: "
        + ", ".join(f"{k} {s:.0f} s" for k, s in results.get("phase_seconds", {}).items())
        + "."
        + "".join(
            f" Phases {', '.join(run['phases'])} measured again on {run['date']} (load average "
            f"{run['load_average']}, commit {run['commit']}) and merged in."
            for run in (results.get("merged") or [])[-1:]
        ),
        "",
        *targets_table(results),
        "",
        *(
            ["Every figure with its interval over the rounds:", "", *summary, ""]
            if (summary := summary_table(results))
            else []
        ),
        "Against baselines measured in the same run:",
        "",
        *ratios_table(results),
        "",
    ]
    cpu = cpu_table(results)
    if cpu:
        lines += [
            "In CPU time (the absolute rates above are what the benchmark got while other work "
            "shared the cores; these are what the same work costs):",
            "",
            *cpu,
            "",
        ]
    steps = steps_table(results)
    if steps:
        lines += [
            "Enrichment cost per step (the in-process loop, one process per core; wall time "
            "per article in each step, and the loop's CPU time shared out in those proportions):",
            "",
            *steps,
            "",
        ]
    return "\n".join(lines)


def update_doc(section: str, body: str, doc: Path = DOC) -> None:
    """Replace the text between ``<!-- bench:<section>:begin -->`` and its end marker."""
    begin, end = f"<!-- bench:{section}:begin -->", f"<!-- bench:{section}:end -->"
    text = doc.read_text(encoding="utf-8") if doc.exists() else ""
    block = f"{begin}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text, encoding="utf-8")


def plots(results: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """Search latency histogram(s) and the pipeline's progress over time, as PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    candidates = [
        (f"{results['docs']:,} docs", (results.get("search") or {}).get("latencies_ms")),
        ("1,000,000 docs", (results.get("search_1m") or {}).get("latencies_ms")),
    ]
    series: list[tuple[str, list[float]]] = [(label, v) for label, v in candidates if v]
    if series:
        figure, axes = plt.subplots(figsize=(7, 3.5))
        # Log-spaced bins on a log axis: the body and the long tail both stay readable.
        low = max(0.5, min(min(values) for _, values in series))
        top = max(max(values) for _, values in series)
        bins = [low * (top / low) ** (x / 60) for x in range(61)]
        for label, values in series:
            axes.hist(values, bins=bins, alpha=0.6, label=label)
        axes.set_xscale("log")
        axes.set_xlabel("/api/search latency (ms, log scale), sequential, query mix")
        axes.set_ylabel("queries")
        axes.legend()
        figure.tight_layout()
        path = out_dir / "bench-search-latency.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)
    progress = (results.get("pipeline") or {}).get("progress")
    if progress:
        figure, axes = plt.subplots(figsize=(7, 3.5))
        axes.plot([p[0] for p in progress], [p[1] for p in progress])
        axes.set_xlabel("seconds since the first POST")
        axes.set_ylabel("articles indexed")
        axes.set_title(f"pipeline: {results['pipeline_aps']:.1f} articles/s")
        figure.tight_layout()
        path = out_dir / "bench-pipeline-progress.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)
    return written


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
