"""How the views reach the index: the search client, Elasticsearch's refusals and outages as
problems, a search run and timed, and the query's vector. The search logic itself is
web/search.py (and web/fallback.py); ``embed_query`` is what bench/ and quality/ embed with."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import redis
from elasticsearch import ApiError as ESApiError
from elasticsearch import Elasticsearch, TransportError

from shared import stories
from shared.clients import get_elasticsearch, get_redis
from shared.flask_metrics import pending
from shared.http import ApiError, app_settings
from shared.metrics import SEARCH_SECONDS
from shared.settings import Settings
from web.fallback import search_with_fallbacks
from web.search import ExportIncompleteError, SearchRequest, SearchResult

log = logging.getLogger(__name__)


def embed_query(text: str) -> list[float]:
    """The query's vector, from the same model and code as the articles' (loaded on first use:
    about 180 MB per web process)."""
    return list(_query_vector(text))


@lru_cache(maxsize=1024)
def _query_vector(text: str) -> tuple[float, ...]:
    # Page 2, a facet click, the feeds and the export repeat the query: ~20 ms saved each time
    # (1,024 vectors: about 12 MB per process).
    from embedding import embed_texts

    return tuple(embed_texts([text])[0])


def search_client(settings: Settings) -> Elasticsearch:
    """The Elasticsearch client for searches: it stops waiting at twice the search timeout
    (Elasticsearch itself answers with partial results at the timeout; this catches what the
    timeout does not cover, such as expanding prefixes and highlighting)."""
    return get_elasticsearch(settings).options(request_timeout=2 * settings.search_timeout_s)


@contextmanager
def search_errors() -> Iterator[None]:
    """Elasticsearch's refusals and outages as problems: 400 for a search it calls invalid,
    503 for the rest."""
    try:
        yield
    except ExportIncompleteError as error:  # an export's count or first page timed out
        raise ApiError(503, "Search unavailable", str(error)) from error
    except ESApiError as error:
        if error.meta.status in (400, 404):
            # simple_query_string should not fail, but a client error is never a 500.
            raise ApiError(400, "Invalid search", str(error.message)) from error
        raise ApiError(
            503, "Search unavailable", f"Elasticsearch answered {error.meta.status}"
        ) from error
    except TransportError as error:
        raise ApiError(
            503, "Search unavailable", f"Elasticsearch is unreachable: {error}"
        ) from error


def run_search(search: SearchRequest) -> SearchResult:
    """A search as the views run it: with its fallbacks (web/fallback.py), the service's
    index and timeouts, and its time in the request's metrics."""
    settings = app_settings()
    started = time.perf_counter()
    with search_errors():
        found = search_with_fallbacks(
            search_client(settings),
            settings.articles_alias,
            search,
            embed_query,
            timeout_s=settings.search_timeout_s,
            highlight_max_chars=settings.search_highlight_max_chars,
        )
    # Written to Redis with the request's other metrics, after the answer.
    pending().observe(
        SEARCH_SECONDS,
        time.perf_counter() - started,
        mode=search.mode if search.ranked_by_meaning else "keyword",
    )
    label_stories(found, settings)
    return found


def label_stories(found: SearchResult, settings: Settings) -> None:
    """The titles of the stories a search names (its hits' and its story facet's values),
    from their Redis records (issue 17, shared/stories.py), in one round trip. Without Redis
    the stories stay unlabelled: the search itself does not need it."""
    wanted = {story["id"] for hit in found["hits"] if (story := hit.get("story"))}
    wanted |= {item["value"] for item in found["facets"].get("story", [])}
    if not wanted:
        return
    try:
        records = stories.read_stories(get_redis(settings), settings, sorted(wanted))
    except redis.RedisError:
        log.warning("story titles unavailable: Redis is unreachable", exc_info=True)
        return
    for hit in found["hits"]:
        if (story := hit.get("story")) and (title := records.get(story["id"], {}).get("title")):
            story["title"] = title
    for item in found["facets"].get("story", []):
        item["label"] = records.get(item["value"], {}).get("title") or item["value"]
