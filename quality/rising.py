"""Spike detection (issue 17, item 4): precision and recall of ``shared.rising.score`` on
synthetic timelines with injected bursts.

    python -m quality rising            # tune on the dev seeds, score the test seeds once
    python -m quality rising --split dev

Each timeline is one term's daily article counts over 15 days: 14 days of baseline and the
recent day, drawn from a Poisson law at the term's background rate. Per seed:

- ``BACKGROUND`` ordinary terms, rates log-uniform from 0.2 to 60 articles a day;
- ``NOISE`` rare terms, 0.01 to 0.4 a day (the small counts that must not fire);
- ``BURSTS`` of the ordinary and rare terms get a burst in the recent day: ``size`` extra
  articles (Poisson of that mean, so a burst of 5 is sometimes 2), ``size`` from
  ``BURST_SIZES`` in turn.

A flagged term with a burst is a true positive; a flagged term without one a false positive.
Recall is reported per burst size. Thresholds (``min_count``, ``min_score``) are chosen on the
development seeds (``DEV_SEEDS``, best F1, then higher precision) and the test seeds
(``TEST_SEEDS``, never looked at while tuning) are scored once with them. The result is kept in
quality/results/rising.json for docs/QUALITY.md.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.rising import DEFAULT_MIN_COUNT, DEFAULT_MIN_SCORE, score

RESULT = Path(__file__).resolve().parent / "results" / "rising.json"
DEV_SEEDS = tuple(range(0, 10))
TEST_SEEDS = tuple(range(1000, 1010))
BASELINE_DAYS = 14
BACKGROUND = 400
NOISE = 2_000
BURSTS = 60
BURST_SIZES = (3, 5, 10, 20, 40)
MIN_COUNTS = (2, 3, 4, 5, 6, 8, 10)
MIN_SCORES = (2.0, 3.0, 4.0, 5.0, 6.0, 8.0)


@dataclass(frozen=True)
class Term:
    recent: int
    baseline: int
    burst: int  # the burst size injected (0: none)


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method for small means, a rounded normal for large ones)."""
    if mean <= 0:
        return 0
    if mean > 60:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def timeline(seed: int) -> list[Term]:
    rng = random.Random(seed)
    rates = [math.exp(rng.uniform(math.log(0.2), math.log(60))) for _ in range(BACKGROUND)]
    rates += [rng.uniform(0.01, 0.4) for _ in range(NOISE)]
    bursting = dict(
        zip(
            rng.sample(range(len(rates)), BURSTS),
            (BURST_SIZES[i % len(BURST_SIZES)] for i in range(BURSTS)),
            strict=False,
        )
    )
    terms = []
    for index, rate in enumerate(rates):
        baseline = sum(_poisson(rng, rate) for _ in range(BASELINE_DAYS))
        burst = bursting.get(index, 0)
        recent = _poisson(rng, rate) + (_poisson(rng, burst) if burst else 0)
        terms.append(Term(recent, baseline, burst))
    return terms


def evaluate(seeds: tuple[int, ...], min_count: int, min_score: float) -> dict[str, Any]:
    flagged = true_positive = 0
    per_size = {size: [0, 0] for size in BURST_SIZES}  # found, injected
    for seed in seeds:
        for term in timeline(seed):
            found = score(
                term.recent,
                term.baseline,
                window_ratio=1 / BASELINE_DAYS,
                min_count=min_count,
                min_score=min_score,
            ).rising
            flagged += found
            if term.burst:
                per_size[term.burst][1] += 1
                per_size[term.burst][0] += found
                true_positive += found
    injected = sum(total for _, total in per_size.values())
    precision = true_positive / flagged if flagged else 1.0
    recall = true_positive / injected if injected else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "min_count": min_count,
        "min_score": min_score,
        "flagged": flagged,
        "bursts": injected,
        "precision": round(precision, 3),
        "recall": round(recall, 3),
        "f1": round(f1, 3),
        "recall_by_burst_size": {
            str(size): round(found / total, 3) if total else None
            for size, (found, total) in per_size.items()
        },
    }


def tune() -> dict[str, Any]:
    """Every threshold pair on the development seeds; the best F1 (then precision)."""
    grid = [evaluate(DEV_SEEDS, c, s) for c in MIN_COUNTS for s in MIN_SCORES]
    return max(grid, key=lambda r: (r["f1"], r["precision"], -r["min_count"]))


def section() -> list[str]:
    """docs/QUALITY.md's paragraph, from the last closed run (quality/results/rising.json)."""
    if not RESULT.exists():
        return []
    found = json.loads(RESULT.read_text())
    test, dev = found["test"], found["dev"]
    sizes = ", ".join(
        f"+{size}: {value:.0%}" for size, value in test["recall_by_burst_size"].items()
    )
    return [
        "## What is rising (issue 17): spike detection",
        "",
        f"Synthetic timelines (`quality/rising.py`): per seed {BACKGROUND} terms with daily "
        f"rates from 0.2 to 60 articles, {NOISE:,} rare terms (0.01 to 0.4 a day), and "
        f"{BURSTS} bursts of {', '.join(map(str, BURST_SIZES))} extra articles (Poisson) "
        "injected into the last day of terms drawn at random (so mostly rare ones); 14 days of "
        "baseline. Thresholds tuned on dev seeds "
        f"{DEV_SEEDS[0]}-{DEV_SEEDS[-1]} (min_count {dev['min_count']}, min_score "
        f"{dev['min_score']}: dev precision {dev['precision']:.3f}, recall {dev['recall']:.3f}), "
        f"then test seeds {TEST_SEEDS[0]}-{TEST_SEEDS[-1]} scored once: **precision "
        f"{test['precision']:.3f}, recall {test['recall']:.3f}** ({test['flagged']} flagged, "
        f"{test['bursts']} bursts). Recall by burst size: {sizes}. Small bursts on busy terms "
        "are not found by design: a burst is news when it is improbable at the term's own rate "
        "and at least twice it (`shared/rising.py`). `python -m quality rising`.",
        "",
    ]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m quality rising")
    parser.add_argument("--split", choices=("dev", "test"), default="test")
    args = parser.parse_args(argv)
    best = tune()
    print("dev (tuned):", json.dumps(best))
    defaults = evaluate(DEV_SEEDS, DEFAULT_MIN_COUNT, DEFAULT_MIN_SCORE)
    print("dev (shared.rising defaults):", json.dumps(defaults))
    if args.split == "dev":
        return
    test = evaluate(TEST_SEEDS, best["min_count"], best["min_score"])
    print("test:", json.dumps(test))
    RESULT.write_text(
        json.dumps({"dev": best, "test": test, "test_seeds": list(TEST_SEEDS)}, indent=2) + "\n"
    )
