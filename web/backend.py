"""How the views reach the index: the search client, Elasticsearch's refusals and outages as
problems, a search run and timed, and the query's vector. The search logic itself is
web/search.py (and web/fallback.py); ``embed_query`` is what bench/ and quality/ embed with."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from elasticsearch import ApiError as ESApiError
from elasticsearch import Elasticsearch, TransportError

from shared.clients import get_elasticsearch
from shared.flask_metrics import pending
from shared.http import ApiError, app_settings
from shared.metrics import SEARCH_SECONDS
from shared.settings import Settings
from web.fallback import search_with_fallbacks
from web.search import ExportIncompleteError, SearchRequest, SearchResult


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
    return found
