"""Throughput of the whole enrichment on one core, per step, and the process's memory."""

from __future__ import annotations

import gc
import os
import resource
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from tqdm import tqdm

from quality.corpus import news_articles
from shared.schema import ArticleIn, to_payload
from worker.enrich import enrich_batch, warm_up

BATCH = 20


def _current_rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def evaluate(articles: int = 400) -> dict[str, Any]:
    """Pinned to one core, as one prefork worker process is."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    warm_up()
    received = datetime.now(UTC)
    payloads = [
        to_payload(
            ArticleIn(title=a.title or None, body=a.text, url=a.url or None),
            content_type="application/json",
            received_at=received,
        )
        for a in news_articles()[:articles]
    ]
    # A worker holds no corpus: free it, so the memory figure is a worker's.
    news_articles.cache_clear()
    gc.collect()
    enrich_batch(payloads[:BATCH])  # load whatever warm_up did not
    step_seconds: dict[str, float] = defaultdict(float)
    started = time.perf_counter()
    done = 0
    for start in tqdm(range(0, len(payloads), BATCH), desc="enrichment speed", leave=False):
        result = enrich_batch(payloads[start : start + BATCH])
        done += len(result.documents)
        for step, seconds in result.step_seconds.items():
            step_seconds[step] += seconds
    elapsed = time.perf_counter() - started
    words = sum(len((p["body"] or "").split()) for p in payloads) / len(payloads)
    return {
        "articles": done,
        "mean_words": words,
        "articles_per_second": done / elapsed,
        "ms_per_step": {step: 1000 * seconds / done for step, seconds in step_seconds.items()},
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_after_mb": _current_rss_mb(),
    }


if __name__ == "__main__":
    import json
    import sys

    # Its own process, so the memory figure is what one worker process holds.
    json.dump(evaluate(int(sys.argv[1]) if len(sys.argv) > 1 else 400), sys.stdout)
