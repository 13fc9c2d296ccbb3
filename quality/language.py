"""Language identification accuracy on real text in English, German, Spanish and Dutch."""

from __future__ import annotations

import random
from typing import Any

from tqdm import tqdm

from quality.corpus import news_articles, speeches
from worker.enrich.language import detect_language

_LENGTHS = ((0, 5, "under 5 words"), (5, 20, "5-19 words"), (20, 10**9, "20 words or more"))


def evaluate(per_language: int = 300, seed: int = 7) -> dict[str, Any]:
    """Accuracy per sample and by length: the speech samples hold many one-line interjections
    ("Bitte ."), which are not articles but are counted."""
    rng = random.Random(seed)
    samples: dict[str, list[str]] = {}
    for language in ("de", "es", "nl", "en"):
        texts = list(speeches(language))
        samples[f"{language} (parliament speeches)"] = rng.sample(
            texts, min(per_language, len(texts))
        )
    news = list(news_articles())
    samples["en (news articles)"] = [a.text for a in rng.sample(news, min(per_language, len(news)))]
    headlines = [a.title for a in rng.sample(news, min(per_language, len(news))) if a.title]
    rows = []
    by_length = {label: [0, 0] for *_bounds, label in _LENGTHS}
    for name, texts in (*samples.items(), ("en (news headlines only)", headlines)):
        expected = name[:2]
        hits = 0
        for text in tqdm(texts, desc=f"language {name}", leave=False):
            correct = detect_language(text) == expected
            hits += correct
            if "headlines" not in name:  # headlines are shown, not counted in the totals
                words = len(text.split())
                label = next(label for low, high, label in _LENGTHS if low <= words < high)
                by_length[label][0] += 1
                by_length[label][1] += correct
        rows.append({"sample": name, "documents": len(texts), "accuracy": hits / len(texts)})
    total = sum(count for count, _ in by_length.values())
    correct_total = sum(hits for _, hits in by_length.values())
    return {
        "rows": rows,
        "by_length": [
            {"length": label, "documents": count, "accuracy": hits / count if count else 0.0}
            for label, (count, hits) in by_length.items()
        ],
        "overall": correct_total / total,
        "documents": total,
    }
