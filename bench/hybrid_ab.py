"""A/B of the search path: the committed web/search.py of a git revision against the
working tree's, interleaved in one process on the same index and queries (no vector cache).

    .venv/bin/python -m bench.hybrid_ab --rev HEAD~1 --alias newsroom-bench-100k-articles
    .venv/bin/python -m bench.hybrid_ab --rev HEAD~1 --mix 200   # the benchmark's query mix
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from elasticsearch import Elasticsearch

import web.search as current
from embedding.model import embed_texts

QUERIES = [
    "election results", "oil prices", "climate summit", "football match", "central bank rates",
    "refugees border", "vaccine trial", "trade war tariffs", "earthquake rescue", "film festival",
    "police shooting", "stock market falls", "tech company earnings", "school funding",
    "wildfire evacuation", "parliament vote", "nuclear talks", "hospital strike", "space launch",
    "drug prices",
]  # fmt: skip


def _load_revision(rev: str) -> ModuleType:
    source = subprocess.run(
        ["git", "show", f"{rev}:web/search.py"], capture_output=True, text=True, check=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "search_at_rev.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("search_at_rev", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["search_at_rev"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _mix(count: int, round_: int) -> list[dict[str, Any]]:
    """The benchmark's query mix (bench/search.py) as ``SearchRequest`` fields, new per round."""
    from dataclasses import asdict

    from werkzeug.datastructures import MultiDict

    from bench.enriched import load_cache
    from bench.search import query_mix
    from web.params import parse_search_request

    mix = query_mix(list(load_cache().values()), count, seed=100 + round_)
    return [
        asdict(
            parse_search_request(
                MultiDict({k: str(v) for k, v in params.items() if not k.startswith("_")}), 10
            )
        )
        for params in mix
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rev", default="HEAD~1")
    parser.add_argument("--alias", default="newsroom-bench-100k-articles")
    parser.add_argument("--url", default="http://127.0.0.1:9200")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--mix", type=int, default=0, help="this many queries of bench.search's mix instead"
    )
    args = parser.parse_args()
    es = Elasticsearch(args.url, request_timeout=30)
    variants = {"before": _load_revision(args.rev), "after": current}

    def embed(text: str) -> list[float]:
        return embed_texts([text])[0]

    for module in variants.values():  # models, caches and connections warm
        module.search_articles(es, args.alias, module.SearchRequest(query="warm up"), embed)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(args.rounds):
        order = list(variants.items()) if round_ % 2 == 0 else list(variants.items())[::-1]
        for query in _mix(args.mix, round_) if args.mix else QUERIES:
            for name, module in order:
                request = (
                    module.SearchRequest(query=f"{query} {round_}")
                    if isinstance(query, str)
                    else module.SearchRequest(**query)
                )
                started = time.perf_counter()
                module.search_articles(es, args.alias, request, embed)
                times[name].append((time.perf_counter() - started) * 1000)
    for name, values in times.items():
        values.sort()
        print(f"{name}: p50 {statistics.median(values):.1f} ms, p90 "
              f"{values[int(len(values) * 0.9)]:.1f} ms, n={len(values)}")  # fmt: skip
    ratio = statistics.median(times["after"]) / statistics.median(times["before"])
    print(f"p50 after/before: {ratio:.2f}")


if __name__ == "__main__":
    main()
