"""The search query builder and result shaping, shared by the UI and the JSON API."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from elasticsearch import Elasticsearch

# Elasticsearch refuses from + size beyond this (index.max_result_window).
MAX_RESULT_WINDOW = 10_000
MAX_QUERY_CHARS = 1_000
SEARCH_FIELDS = ["title^3", "body", "source.text^2", "authors.text^2", "dateline.place.text^2"]
_LIST_SOURCE = [
    "id",
    "title",
    "url",
    "source",
    "authors",
    "language",
    "published_at",
    "dateline",
    "word_count",
]


@dataclass(frozen=True)
class SearchRequest:
    query: str = ""
    page: int = 1
    size: int = 10

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


_QUOTED = re.compile(r'("[^"]*"?)')
# Upper-case operators as people type them (Google, Lucene), standing alone between spaces.
_OR = re.compile(r"(?<!\S)OR(?!\S)")
_AND = re.compile(r"(?<!\S)AND(?!\S)")
_NOT = re.compile(r"(?<!\S)NOT\s+(?=[^\s|+-])")


def to_simple_query_syntax(text: str) -> str:
    """Rewrite ``OR``, ``AND`` and ``NOT`` outside quoted phrases into ``simple_query_string``'s
    ``|``, ``+`` and ``-``, which would otherwise search for the words "or", "and", "not"."""
    parts = _QUOTED.split(text)
    for index in range(0, len(parts), 2):  # even parts lie outside quotes
        parts[index] = _NOT.sub("-", _AND.sub("+", _OR.sub("|", parts[index])))
    return "".join(parts)


def build_search_body(request: SearchRequest) -> dict[str, Any]:
    """``simple_query_string`` never fails on odd input (phrases, -, |, prefix*); an empty query
    lists the newest stories."""
    if request.query.strip():
        query: dict[str, Any] = {
            "simple_query_string": {
                "query": to_simple_query_syntax(request.query),
                "fields": SEARCH_FIELDS,
                "default_operator": "and",
                "flags": "AND|OR|NOT|PHRASE|PREFIX|PRECEDENCE|WHITESPACE|ESCAPE",
            }
        }
        sort: list[Any] = ["_score", {"published_at": {"order": "desc", "missing": "_last"}}]
    else:
        query = {"match_all": {}}
        sort = [{"published_at": {"order": "desc", "missing": "_last"}}, {"received_at": "desc"}]
    return {
        "query": query,
        "sort": sort,
        "from": request.offset,
        "size": request.size,
        "track_total_hits": True,
        "_source": _LIST_SOURCE,
        "highlight": {
            # The html encoder escapes the article text around the <mark> tags, so a snippet
            # is safe to insert into a page as is.
            "encoder": "html",
            "pre_tags": ["<mark>"],
            "post_tags": ["</mark>"],
            "fields": {
                "body": {"fragment_size": 200, "number_of_fragments": 2, "no_match_size": 260},
                "title": {"number_of_fragments": 0},
            },
        },
    }


def shape_hit(hit: dict[str, Any]) -> dict[str, Any]:
    source = hit.get("_source", {})
    highlight = hit.get("highlight", {})
    return {
        "id": hit["_id"],
        "title": source.get("title"),
        "title_html": (highlight.get("title") or [None])[0],
        "url": source.get("url"),
        "source": source.get("source"),
        "authors": source.get("authors") or [],
        "published_at": source.get("published_at"),
        "language": source.get("language"),
        "dateline": source.get("dateline"),
        "word_count": source.get("word_count"),
        "score": hit.get("_score"),
        "snippet": " … ".join(highlight.get("body", [])),
    }


def search_articles(es: Elasticsearch, alias: str, request: SearchRequest) -> dict[str, Any]:
    response = es.search(
        index=alias, ignore_unavailable=True, allow_no_indices=True, **build_search_body(request)
    )
    total = response["hits"]["total"]
    return {
        "query": request.query,
        "page": request.page,
        "size": request.size,
        "total": total["value"],
        "total_relation": total["relation"],
        "took_ms": response["took"],
        "hits": [shape_hit(hit) for hit in response["hits"]["hits"]],
    }


def get_article(es: Elasticsearch, alias: str, article_id: str) -> dict[str, Any] | None:
    response = es.options(ignore_status=404).get(index=alias, id=article_id)
    if not response.get("found"):
        return None
    article: dict[str, Any] = response["_source"]
    return article
