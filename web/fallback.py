"""Searches that find something (issue 14 item 6), around ``web.search.search_articles``.

A search first matches all of its words. When they match fewer than FEW_RESULTS articles:

1. a misspelling: when the spelling suggester corrected a word that no article contains
   (``did_you_mean``) and the corrected words match more articles, the corrected search is
   the answer (``corrected``: what was typed and what was searched; ``exact=1`` searches the
   words as typed);
2. most of the words: when the query has MIN_RELAXABLE plain words or more and matching most
   of them (MOST_WORDS) finds more articles, that is the answer (``relaxed``). Phrases,
   exclusions, ``+required`` words and prefixes stay required: only plain words are relaxed.

"Matches" counts the articles that match the words (``total_words``: in hybrid mode the
neighbours in meaning are not counted). Meaning only (semantic) ranks by meaning, not words:
it is left as it is. Every step is a whole search, so hits, facets, timeline and totals of the
answer agree with one another; a search that finds enough costs nothing more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from elasticsearch import Elasticsearch

from web.search import (
    MOST_WORDS,
    SearchRequest,
    SearchResult,
    relaxed_words_query,
    search_articles,
    split_plain_words,
)

# "Nothing or very little": fewer than this many articles match all the words.
FEW_RESULTS = 3


def _word_matches(found: SearchResult) -> int:
    """How many articles match the words (the total where nothing else is counted)."""
    return found["total_words"]


def search_with_fallbacks(
    es: Elasticsearch,
    alias: str,
    request: SearchRequest,
    embed: Callable[[str], list[float]] | None = None,
    **options: Any,
) -> SearchResult:
    """``search_articles``, then the corrected or relaxed search when the words find fewer than
    FEW_RESULTS articles and that finds more; the answer says which (``corrected``,
    ``relaxed``, both None when the words were searched as typed, all of them)."""
    found = search_articles(es, alias, request, embed, **options)
    corrected: dict[str, str] | None = None
    relaxed: dict[str, Any] | None = None
    if (
        not request.exact
        and request.words == "all"
        and request.query.strip()
        and found["mode"] != "semantic"
    ):
        suggestion = found.get("did_you_mean")
        if suggestion and _word_matches(found) < FEW_RESULTS:
            spelt = replace(request, query=suggestion)
            better = search_articles(es, alias, spelt, embed, **options)
            if _word_matches(better) > _word_matches(found):
                corrected = {"from": request.query, "to": suggestion}
                found, request = better, spelt
        split = split_plain_words(request.query)
        if (
            _word_matches(found) < FEW_RESULTS
            and split is not None
            and relaxed_words_query(request.query) is not None
        ):
            most = replace(request, words="most")
            wider = search_articles(es, alias, most, embed, **options)
            if _word_matches(wider) > _word_matches(found):
                relaxed = {
                    "from": "all words",
                    "to": "most words",
                    "words": split[0],
                    "minimum_should_match": MOST_WORDS,
                    "all_words_total": _word_matches(found),
                }
                found, request = wider, most
    answer: SearchResult = {
        **found,
        # A date range leaves out the articles without a date: not counted then.
        "timeline": {
            **found["timeline"],
            "without_date": None
            if request.date_from or request.date_to
            else found["timeline"]["without_date"],
        },
        "corrected": corrected,
        "relaxed": relaxed,
        "exact": request.exact,
        "when": request.when,
        "undated": request.undated,
    }
    return answer
