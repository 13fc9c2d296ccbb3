"""Resident memory of one web worker that has embedded a query: this tree against another commit.

    python -m bench.web_memory --baseline 1ed02fc --repeats 5

Issue 15 moved the sentence-embedding model out of ``worker.enrich`` into its own package, so
that a web process embeds a query without loading spaCy, lingua, YAKE and the rest. This measures
what that buys: for each repeat, gunicorn (one worker, 4 threads, as in docker-compose) is started
on the baseline commit (a ``git worktree``) and on this tree, in alternating order; a few hybrid
searches are made (each embeds its query); then the worker's VmRSS and VmHWM are read from /proc
and its mapped shared libraries are checked for the enrichment's. Both sides run in the same
session on the same index, so the ratio is a same-run one; the interval is a bootstrap over the
paired repeats.

Needs Redis and Elasticsearch up and an article index to search (``make up`` and a posted
article, or ``NEWSROOM_INDEX_PREFIX`` naming one); every search must answer 200.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import tempfile
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.report import machine, now
from bench.stack import ROOT, bench_env, rss_mb, start_gunicorn, stop

QUERIES = ("oil prices fall", "media cooperation between countries", "police", "central bank")
# Shared libraries of the enrichment stack that a web worker has no use for.
ENRICHMENT_LIBS = ("spacy", "lingua", "yake", "dateparser", "trafilatura", "datasketch")
RESULTS = ROOT / "bench" / "results" / "web-memory.json"


@dataclass
class Sample:
    side: str  # "baseline" or "candidate"
    rss_mb: float
    peak_mb: float
    enrichment_libs: list[str]


def _mapped_libs(pid: int) -> list[str]:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return [lib for lib in ENRICHMENT_LIBS if f"/{lib}" in maps]


def measure(tree: Path, side: str, log_dir: Path) -> Sample:
    # The index to search: this machine's (make up), or the one NEWSROOM_INDEX_PREFIX names.
    env = bench_env(os.environ.get("NEWSROOM_INDEX_PREFIX", "newsroom"), "bench-web-memory")
    web = start_gunicorn("web", env, log_dir / side, workers=1, threads=4, tree=tree)
    try:
        (pid,) = web.children()
        for query in QUERIES:
            url = f"{web.url}/api/search?" + urllib.parse.urlencode({"q": query, "mode": "hybrid"})
            with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 (loopback)
                if response.status != 200:
                    raise RuntimeError(f"{side}: search {query!r} answered {response.status}")
                response.read()
        rss, peak = rss_mb(pid)
        return Sample(side=side, rss_mb=rss, peak_mb=peak, enrichment_libs=_mapped_libs(pid))
    finally:
        stop(web)


def ratio_interval(pairs: list[tuple[float, float]], rounds: int = 2000) -> tuple[float, float]:
    """95% bootstrap interval of median(candidate) / median(baseline) over the paired repeats."""
    rng = random.Random(15)
    ratios = []
    for _ in range(rounds):
        chosen = [rng.choice(pairs) for _ in pairs]
        base = statistics.median(b for b, _ in chosen)
        ratios.append(statistics.median(c for _, c in chosen) / base)
    ratios.sort()
    return ratios[int(0.025 * rounds)], ratios[int(0.975 * rounds) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", required=True, help="commit to compare against")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    samples: list[Sample] = []
    with tempfile.TemporaryDirectory() as scratch:
        baseline = Path(scratch) / "baseline"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(baseline), args.baseline],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        try:
            for repeat in range(args.repeats):
                order = [("baseline", baseline), ("candidate", ROOT)]
                if repeat % 2:
                    order.reverse()  # alternate which side starts first
                for side, tree in order:
                    samples.append(measure(tree, side, Path(scratch) / "logs"))
                    print(f"repeat {repeat + 1}/{args.repeats} {side}: {samples[-1]}")
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(baseline)], cwd=ROOT, check=False
            )
    result: dict[str, object] = {
        "when": now(),
        "commit": commit,
        "baseline": args.baseline,
        "machine": machine(),
        "samples": [asdict(sample) for sample in samples],
    }
    for key in ("rss_mb", "peak_mb"):
        base = [getattr(s, key) for s in samples if s.side == "baseline"]
        cand = [getattr(s, key) for s in samples if s.side == "candidate"]
        low, high = ratio_interval(list(zip(base, cand, strict=True)))
        ratio = statistics.median(cand) / statistics.median(base)
        result[key] = {
            "baseline_median": statistics.median(base),
            "candidate_median": statistics.median(cand),
            "ratio": ratio,
            "ratio_95": [low, high],
        }
        print(
            f"{key}: baseline {statistics.median(base):.0f} MB, this tree "
            f"{statistics.median(cand):.0f} MB, ratio {ratio:.2f} "
            f"(95% {low:.2f}-{high:.2f}, {args.repeats} paired repeats)"
        )
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
