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
    "search_p99_1m_over_100k": ("<=", 2, "search p99 at 1M docs / at 100k"),
}
_COMPARE: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le}


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
        if ratio is None and reference:
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
