"""The search query builder and result shaping, shared by the UI and the JSON API."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, NotRequired, TypedDict

from elastic_transport import ObjectApiResponse
from elasticsearch import BadRequestError, Elasticsearch

from shared.article import ARTICLE_ID_PATTERN
from web.facets import FACETS, PLACE_NAME_FIELD, FacetValue

# Elasticsearch refuses from + size beyond this (index.max_result_window).
MAX_RESULT_WINDOW = 10_000
MAX_QUERY_CHARS = 1_000
# Prefix operators ("word*") one query may hold. Each expands to every indexed term it starts
# (one letter: thousands) on each of the five search fields, before any timeout can stop it,
# and highlighting expands them again: 330 one-letter prefixes took 10-21x a normal query on a
# 554-article index (docs/RELIABILITY.md, "Search and outputs"), 10 of them 2-7x.
# Every "*" counts, as web/openapi.py's pattern for q says.
MAX_QUERY_PREFIXES = 10
# How much of a field highlighting reads by default (NEWSROOM_SEARCH_HIGHLIGHT_MAX_CHARS):
# Elasticsearch refuses a highlight over a longer field unless told where to stop (at most its
# index.highlight.max_analyzed_offset), and the time it takes grows with what it reads.
HIGHLIGHT_MAX_CHARS = 100_000
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
    "story.id",
]


def place_label_agg(size: int = 1) -> dict[str, Any]:
    """A sub-aggregation of a bucket of place ids: the newest article's places, from which
    ``place_label`` picks that id's name. One small _source per bucket."""
    return {
        "top_hits": {
            "size": size,
            "sort": [{"published_at": {"order": "desc", "missing": "_last"}}],
            "_source": {"includes": ["places.geonameid", "places.name"]},
        }
    }


def place_label(bucket: Mapping[str, Any], key: str | None = None) -> str | None:
    """The name of place ``key`` (the bucket's key by default) in the bucket's label hit."""
    key = str(bucket.get("key")) if key is None else key
    for hit in bucket.get("label", {}).get("hits", {}).get("hits", []):
        for place in hit.get("_source", {}).get("places") or []:
            if isinstance(place, Mapping) and str(place.get("geonameid")) == key:
                name = place.get("name")
                if isinstance(name, str) and name:
                    return name
    return None


def place_labels(es: Elasticsearch, index: str, ids: Sequence[str]) -> dict[str, str]:
    """The names of these GeoNames ids, as their newest articles give them (for pages that show
    a stored place filter, such as a saved search's). An id no article names keeps no label."""
    wanted = sorted({value for value in ids if value.isdigit()})
    if not wanted:
        return {}
    response = es.search(
        index=index,
        size=0,
        query={"terms": {FACETS["places"].field: wanted}},
        aggs={
            "ids": {
                "terms": {"field": FACETS["places"].field, "include": wanted, "size": len(wanted)},
                "aggs": {"label": place_label_agg()},
            }
        },
        track_total_hits=False,
    )
    buckets = response.get("aggregations", {}).get("ids", {}).get("buckets", [])
    return {str(b["key"]): label for b in buckets if (label := place_label(b))}


def place_filter(values: Sequence[str]) -> dict[str, Any]:
    """Articles naming any of these places: GeoNames ids, or names (links made before the
    facet was by id, and pages of a name)."""
    ids = [value for value in values if value.isdigit()]
    names = [value for value in values if not value.isdigit()]
    clauses = [{"terms": {FACETS["places"].field: ids}}] if ids else []
    clauses += [{"terms": {PLACE_NAME_FIELD: names}}] if names else []
    if len(clauses) == 1:
        return clauses[0]
    return {"bool": {"should": clauses, "minimum_should_match": 1}}


FACET_SIZE = 10
SORTS = ("relevance", "newest", "oldest")
# hybrid: BM25 and kNN rankings fused by reciprocal rank fusion (ours: Elasticsearch's RRF
# retriever needs a paid licence); semantic: kNN alone; keyword: BM25 alone.
MODES = ("hybrid", "keyword", "semantic")
# How deep each ranking goes before fusion; hybrid and semantic results page within it.
FUSION_DEPTH = 100
RRF_K = 60
# kNN always returns its k nearest articles, however unrelated. A kNN hit counts only from this
# cosine similarity up: measured with all-MiniLM-L6-v2 on the corpus, related stories score
# 0.45-0.76 against a query, noise (nonsense words, bare rare names) up to 0.38.
SEMANTIC_MIN_SIMILARITY = 0.4
# Near-duplicate copies share this keyword (worker/enrich/duplicates.py: every article has one).
CLUSTER_FIELD = "duplicates.cluster_id"
# The story an article belongs to (issue 17, shared/stories.py). Articles indexed before stories
# existed lack it: Elasticsearch's collapse would put them all in one group, so they are listed
# by near-duplicate cluster beside the stories (``story_parts``).
STORY_FIELD = "story.id"
# Clusters counted exactly (HyperLogLog++ counts exactly below its precision threshold) as
# far as keyword paging goes.
GROUPS_EXACT = MAX_RESULT_WINDOW


@dataclass(frozen=True)
class SearchRequest:
    query: str = ""
    page: int = 1
    size: int = 10
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    date_from: date | None = None
    date_to: date | None = None  # inclusive
    sort: str = "relevance"
    # search_after: the sort values of the last hit seen, for paging past MAX_RESULT_WINDOW.
    after: tuple[Any, ...] = ()
    mode: str = "hybrid"
    # Near-duplicate copies (one duplicates.cluster_id) listed as one entry; off: every copy.
    # A cursor (``after``) pages ungrouped: Elasticsearch's collapse refuses search_after.
    group: bool = True
    # Grouped, and the articles of one story (story.id) listed as one entry too (the search
    # page's and API's default: web/params.py, ``group=on``; ``group=copies`` leaves it off).
    stories: bool = False
    # The words' matching (web/fallback.py): "all" plain words, or "most" of them (relaxed:
    # MOST_WORDS; phrases, exclusions, +required and prefixes stay required).
    words: str = "all"
    # The words as typed: no spelling correction and no relaxing (the "search instead" link).
    exact: bool = False
    # A date preset (DATE_PRESETS) that set date_from, echoed for the page.
    when: str | None = None
    # Only the articles without a publication date (no date range can then apply).
    undated: bool = False

    @property
    def grouped(self) -> bool:
        return self.group and not self.after

    @property
    def by_story(self) -> bool:
        return self.grouped and self.stories

    @property
    def ranked_by_meaning(self) -> bool:
        """Semantic and hybrid rank a text query by relevance; an empty query or a date sort
        lists keyword matches."""
        return self.mode != "keyword" and bool(self.query.strip()) and self.sort == "relevance"

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


_QUOTED = re.compile(r'("[^"]*"?)')
# Upper-case operators as people type them (Google, Lucene), standing alone between spaces.
_OR = re.compile(r"(?<!\S)OR(?!\S)")
_AND = re.compile(r"(?<!\S)AND(?!\S)")
_NOT = re.compile(r"(?<!\S)NOT\s+(?=[^\s|+-])")
_NOT_BEFORE_QUOTE = re.compile(r"(?<!\S)NOT\s+$")


def query_problem(text: str) -> str | None:
    """Why a query's text is refused (too long, too many prefixes), or None."""
    if len(text) > MAX_QUERY_CHARS:
        return f"a query has at most {MAX_QUERY_CHARS} characters"
    if text.count("*") > MAX_QUERY_PREFIXES:
        return (
            f"a query has at most {MAX_QUERY_PREFIXES} prefix operators (word*): each one "
            "searches every word it starts"
        )
    return None


def to_simple_query_syntax(text: str) -> str:
    """Rewrite ``OR``, ``AND`` and ``NOT`` outside quoted phrases into ``simple_query_string``'s
    ``|``, ``+`` and ``-``, which would otherwise search for the words "or", "and", "not"."""
    parts = _QUOTED.split(text)
    for index in range(0, len(parts), 2):  # even parts lie outside quotes
        parts[index] = _NOT.sub("-", _AND.sub("+", _OR.sub("|", parts[index])))
        if index + 1 < len(parts):  # NOT "a phrase": the phrase follows in the next part
            parts[index] = _NOT_BEFORE_QUOTE.sub("-", parts[index])
    return "".join(parts)


@dataclass(frozen=True)
class HardConstraints:
    """What every hit must satisfy, whichever side (words or meaning) found it: the quoted
    phrases (``required``) and the excluded words and phrases (``excluded``), each as
    ``simple_query_string`` text. ``whole``: the query's boolean structure (``|``, parentheses,
    escapes) does not split into top-level conditions, so a hit must match the whole query."""

    required: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    whole: bool = False

    @property
    def any(self) -> bool:
        return self.whole or bool(self.required or self.excluded)


_WHOLE = HardConstraints(whole=True)


def hard_constraints(text: str) -> HardConstraints:
    """The query's hard constraints, read as ``simple_query_string`` reads it with
    ``default_operator: and`` (after ``to_simple_query_syntax``): top-level terms are ANDed,
    ``-`` at the start of a term or phrase excludes it, ``+`` only joins, ``"…"`` is a phrase
    (an unclosed one runs to the end). Bare words are not hard: a neighbour in meaning may
    lack them. Written by hand because no library parses simple_query_string's syntax;
    anything it does not split with certainty (``|``, parentheses, ``\\``, stacked operators)
    makes the whole query the constraint, which is never looser than the keyword side."""
    syntax = to_simple_query_syntax(text)
    required: list[str] = []
    excluded: list[str] = []
    position, end = 0, len(syntax)
    while position < end:
        char = syntax[position]
        if char.isspace():
            position += 1
            continue
        if char in "|()\\":
            return _WHOLE
        negated = False
        while position < end and syntax[position] in "+-":
            if syntax[position] == "-":
                if negated:
                    return _WHOLE  # "--word": stacked negations
                negated = True
            position += 1
        if position >= end or syntax[position].isspace():
            continue  # a lone operator joins nothing
        if syntax[position] in "|()\\+":
            return _WHOLE
        if syntax[position] == '"':
            close = syntax.find('"', position + 1)
            close = end if close < 0 else close
            words = syntax[position + 1 : close].strip()
            if "\\" in words:
                return _WHOLE  # an escaped quote: where the phrase ends is ES's to say
            position = close + 1
            if words:
                (excluded if negated else required).append(f'"{words}"')
            continue
        start = position
        while position < end and not syntax[position].isspace():
            if syntax[position] in '"|()\\':
                return _WHOLE
            position += 1
        if negated:
            excluded.append(syntax[start:position])
    return HardConstraints(tuple(required), tuple(excluded))


def _matching_query(request: SearchRequest) -> dict[str, Any]:
    """Which articles the text matches, unscored."""
    if not request.query.strip():
        return {"match_all": {}}
    if request.words == "most" and (relaxed := relaxed_words_query(request.query)) is not None:
        return relaxed
    return {
        "simple_query_string": {
            "query": to_simple_query_syntax(request.query),
            "fields": SEARCH_FIELDS,
            "default_operator": "and",
            "flags": "AND|OR|NOT|PHRASE|PREFIX|PRECEDENCE|WHITESPACE|ESCAPE",
        }
    }


# Relaxed matching (issue 14 item 6; web/fallback.py decides when): of the plain words, all
# while there are two, 75% (rounded down) from three up: 3 of 4, 6 of 8. A query with fewer
# than MIN_RELAXABLE plain words is never relaxed (two words of which one is missing would
# leave one: a different question).
MOST_WORDS = "2<75%"
MIN_RELAXABLE = 3
_TERM = re.compile(r'[+-]*"[^"]*"?|\S+')


def split_plain_words(text: str) -> tuple[list[str], list[str]] | None:
    """The query's plain words (no operator: what relaxing may leave out) and its other
    terms (phrases, -excluded, +required, prefix*), read as ``simple_query_string`` reads a
    flat query after ``to_simple_query_syntax``. None when the query is not a flat list of
    terms (``|``, parentheses, escapes, a quote inside a word): relaxing leaves it alone.
    Written by hand: no library parses simple_query_string's syntax."""
    syntax = to_simple_query_syntax(text)
    if any(char in part for part in _QUOTED.split(syntax)[::2] for char in "|()\\"):
        return None
    plain: list[str] = []
    other: list[str] = []
    for term in _TERM.findall(syntax):
        bare = term.lstrip("+-")
        if not bare:
            continue  # a lone operator joins nothing
        if '"' in bare[1:] and not bare.startswith('"'):
            return None
        if term != bare or bare.startswith('"') or bare.endswith("*"):
            other.append(term)
        elif any(char.isalnum() for char in bare):
            plain.append(term)
    return plain, other


def relaxed_words_query(text: str) -> dict[str, Any] | None:
    """The words' query with most of the plain words (MOST_WORDS) and every other term still
    required, or None when the query cannot be relaxed (``split_plain_words``, MIN_RELAXABLE)."""
    split = split_plain_words(text)
    if split is None or len(split[0]) < MIN_RELAXABLE:
        return None
    plain, other = split
    clauses: list[dict[str, Any]] = [
        {
            "simple_query_string": {
                "query": " ".join(plain),
                "fields": SEARCH_FIELDS,
                "default_operator": "or",
                "minimum_should_match": MOST_WORDS,
                "flags": "AND|OR|NOT|PHRASE|PREFIX|PRECEDENCE|WHITESPACE|ESCAPE",
            }
        }
    ]
    if other:
        clauses.append(
            {
                "simple_query_string": {
                    "query": " ".join(other),
                    "fields": SEARCH_FIELDS,
                    "default_operator": "and",
                    "flags": "AND|OR|NOT|PHRASE|PREFIX|PRECEDENCE|WHITESPACE|ESCAPE",
                }
            }
        )
    return {"bool": {"must": clauses}}


def _counting_query(request: SearchRequest) -> dict[str, Any]:
    """The matches of the text and dates in filter context, for requests that only count
    (facets, the timeline, its bounds): no scores to compute, no ``now`` in the recency
    boost, so with ``size: 0`` Elasticsearch's shard request cache can keep their answers
    until the next refresh."""
    return {"bool": {"filter": [_matching_query(request), *_date_filter(request)]}}


def _text_query(request: SearchRequest) -> dict[str, Any]:
    matched = _matching_query(request)
    if request.sort != "relevance" or "match_all" in matched:
        return matched
    # Recency boost: relevance times 1 to 1.5, the bonus halving every 30 days of age.
    return {
        "function_score": {
            "query": matched,
            "functions": [
                {"weight": 1},
                {
                    "gauss": {
                        "published_at": {
                            "origin": "now",
                            "scale": "30d",
                            "offset": "1d",
                            "decay": 0.5,
                        }
                    },
                    "weight": 0.5,
                },
            ],
            "score_mode": "sum",
            "boost_mode": "multiply",
        }
    }


def _date_filter(request: SearchRequest) -> list[dict[str, Any]]:
    if not request.date_from and not request.date_to:
        return [UNDATED] if request.undated else []
    # A bound is a day (``to`` then takes the whole day: Elasticsearch fills an ``lte``'s
    # missing time with the day's last millisecond) or an instant (a datetime, a preset).
    timed = isinstance(request.date_from, datetime) or isinstance(request.date_to, datetime)
    bounds: dict[str, str] = {"format": "strict_date_optional_time" if timed else "strict_date"}
    if request.date_from:
        bounds["gte"] = _date_bound(request.date_from)
    if request.date_to:
        bounds["lte"] = _date_bound(request.date_to)
    # Undated and a range: nothing (an article without a date is in no range).
    return [{"range": {"published_at": bounds}}, *([UNDATED] if request.undated else [])]


# Articles without a publication date: no date filter or timeline bar ever holds them.
UNDATED: dict[str, Any] = {"bool": {"must_not": [{"exists": {"field": "published_at"}}]}}


def _date_bound(value: date) -> str:
    """A day as 2025-09-30; an instant in UTC to the second (a naive one is taken as UTC)."""
    if not isinstance(value, datetime):
        return value.isoformat()
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _facet_filters(request: SearchRequest, leave_out: str | None = None) -> list[dict[str, Any]]:
    return [
        place_filter(values)
        if FACETS[name].kind == "place"
        else {"terms": {FACETS[name].field: list(values)}}
        for name, values in request.filters.items()
        if values and name != leave_out
    ]


def _sort(request: SearchRequest) -> list[Any]:
    # The id breaks ties, so search_after cursors never skip or repeat a hit.
    if request.sort == "newest" or not request.query.strip():
        return [{"published_at": {"order": "desc", "missing": "_last"}}, {"id": "asc"}]
    if request.sort == "oldest":
        return [{"published_at": {"order": "asc", "missing": "_last"}}, {"id": "asc"}]
    return ["_score", {"published_at": {"order": "desc", "missing": "_last"}}, {"id": "asc"}]


def build_match_query(request: SearchRequest) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """What a saved search matches new articles with (web/saved.py stores it; the worker runs
    it): the search's words, facet filters and dates as one query, without ranking (no recency
    boost), and the filters alone for a kNN search's ``filter``."""
    filters = _date_filter(request) + _facet_filters(request)
    text = _text_query(replace(request, sort="newest"))
    return {"bool": {"must": [text], "filter": filters}}, filters


def encode_cursor(sort_values: list[Any]) -> str:
    """An opaque ``after`` cursor: the last hit's sort values."""
    return (
        base64.urlsafe_b64encode(json.dumps(sort_values, separators=(",", ":")).encode())
        .decode()
        .rstrip("=")
    )


def decode_cursor(cursor: str) -> list[Any]:
    """Raises ValueError for anything that is not a cursor this service made."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeDecodeError, RecursionError) as error:  # "[[[[…" nests too deep
        raise ValueError("not a cursor") from error
    if (
        not isinstance(values, list)
        or not 2 <= len(values) <= 3
        or not all(isinstance(v, str | int | float) or v is None for v in values)
    ):
        raise ValueError("not a cursor")
    return values


def choose_interval(first: date, last: date) -> str:
    """A calendar interval that draws the span in at most about 60 bars."""
    days = (last - first).days
    if days <= 60:
        return "day"
    if days <= 420:
        return "week"
    if days <= 5 * 366:
        return "month"
    if days <= 15 * 366:
        return "quarter"
    return "year"


def build_bounds_body(request: SearchRequest) -> dict[str, Any]:
    """First and last publication date of the results, to pick the timeline's interval."""
    counting = _counting_query(request)["bool"]["filter"]
    return {
        "query": {"bool": {"filter": counting + _facet_filters(request)}},
        "size": 0,
        "track_total_hits": False,
        "aggs": {
            "first": {"min": {"field": "published_at"}},
            "last": {"max": {"field": "published_at"}},
        },
    }


def _spelling_suggester(query: str) -> dict[str, Any]:
    """Corrections for words that no article contains ("missing"), closest spelling first."""
    return {
        "text": query,
        "spelling": {
            "term": {
                "field": "body",
                "suggest_mode": "missing",
                "sort": "score",
                "min_word_length": 4,
            }
        },
    }


def corrected_query(query: str, suggest: Mapping[str, Any] | None) -> str | None:
    """The query with each misspelt word replaced by the best correction, or None."""
    entries = (suggest or {}).get("spelling") or []
    corrected = query
    # From the end, so that earlier offsets stay right as words change length.
    for entry in sorted(entries, key=lambda e: -int(e["offset"])):
        if entry["options"]:
            start, end = int(entry["offset"]), int(entry["offset"]) + int(entry["length"])
            typed = corrected[start:end]
            corrected = (
                corrected[:start]
                + _cased_like(typed, entry["options"][0]["text"])
                + corrected[end:]
            )
    return corrected if corrected != query else None


def _cased_like(typed: str, correction: str) -> str:
    """The correction (the index's lower-case term) in the case the word was typed in:
    OIL for OLI, Oil for Oli, oil for oli."""
    if typed.isupper() and len(typed) > 1:
        return correction.upper()
    if typed[:1].isupper():
        return correction[:1].upper() + correction[1:]
    return correction


def build_hits_body(
    request: SearchRequest,
    highlight_max_chars: int = HIGHLIGHT_MAX_CHARS,
    *,
    collapse: bool = False,
    part: str | None = None,
) -> dict[str, Any]:
    """The page of hits, highlighted, and how many articles match.

    The text and the dates narrow everything. Facet selections go in ``post_filter``, so hits
    obey all of them while each facet's counts (``build_facets_body``) obey every selection
    but its own: picking a source leaves the other sources countable (OR), while people and
    places narrow (AND).

    ``collapse``: one hit per near-duplicate cluster (Elasticsearch's field collapsing), and
    the number of clusters (the pager's; the facet filters then go in the query, which the
    aggregation sees). The copies' counts come from ``copies_body`` once the page's clusters
    are known: inner hits (one search per group) cost twice the whole page (7 -> 17 ms
    on 3,788 articles), the request after it 2-3 ms, beside the facets' chain.

    ``part`` (grouping by story, ``story_parts``): "stories", the articles with a story, one
    hit per story; "rest", those without, one per near-duplicate cluster. Each hit then
    carries its cluster and story (``fields``).
    """
    filters = _date_filter(request)
    grouping: dict[str, Any] = {}
    if collapse:
        filters = filters + _facet_filters(request)
        key = CLUSTER_FIELD
        if part is not None:
            has_story = {"exists": {"field": STORY_FIELD}}
            filters = [
                *filters,
                has_story if part == "stories" else {"bool": {"must_not": [has_story]}},
            ]
            key = STORY_FIELD if part == "stories" else CLUSTER_FIELD
        grouping = {
            "collapse": {"field": key},
            "aggs": {
                "groups": {"cardinality": {"field": key, "precision_threshold": GROUPS_EXACT}}
            },
            **({"docvalue_fields": [CLUSTER_FIELD, STORY_FIELD]} if part is not None else {}),
        }
    else:
        grouping = {"post_filter": {"bool": {"filter": _facet_filters(request)}}}
    return {
        "query": {"bool": {"must": [_text_query(request)], "filter": filters}},
        **grouping,
        "sort": _sort(request),
        **({"search_after": list(request.after)} if request.after else {"from": request.offset}),
        "size": request.size,
        "track_total_hits": True,
        "_source": _LIST_SOURCE,
        "highlight": {
            # The html encoder escapes the article text around the <mark> tags, so a snippet
            # is safe to insert into a page as is.
            "encoder": "html",
            # Past this many characters of a field (a body of 1.9 million), highlighting
            # stops instead of failing the whole search with a 400.
            "max_analyzed_offset": highlight_max_chars,
            "pre_tags": ["<mark>"],
            "post_tags": ["</mark>"],
            "fields": {
                "body": {"fragment_size": 200, "number_of_fragments": 2, "no_match_size": 260},
                "title": {"number_of_fragments": 0},
            },
        },
    }


def build_facets_body(
    request: SearchRequest, interval: str = "month", meaning: Sequence[str] | None = None
) -> dict[str, Any]:
    """Facet counts, the timeline and spelling corrections: no hits.

    ``meaning``: the ids a meaning search (hybrid or semantic, ``request.mode``) found, its
    kNN neighbours. The candidate set is then the keyword matches and those neighbours
    (semantic: the neighbours alone), and the ``matched`` count says how many of them pass
    the facet filters (the total) and how many of those do not match the words.
    """
    aggs: dict[str, Any] = {}
    for name, facet in FACETS.items():
        values: dict[str, Any] = {"terms": {"field": facet.field, "size": FACET_SIZE}}
        # Selected values are counted (and places labelled) even when they fall out of the
        # top: a selection's count must agree with the total it filters to.
        selected = list(request.filters.get(name, ()))
        if facet.kind == "place":
            values["aggs"] = {"label": place_label_agg()}
            selected = [v for v in selected if v.isdigit()]  # a name (older link) is not an id
        aggs[name] = {
            "filter": {"bool": {"filter": _facet_filters(request, leave_out=name)}},
            "aggs": {"values": values},
        }
        if selected:
            aggs[name]["aggs"]["selected"] = {
                "terms": {"field": facet.field, "include": selected, "size": len(selected)},
                **({"aggs": {"label": place_label_agg()}} if facet.kind == "place" else {}),
            }
    aggs["timeline"] = {
        "filter": {"bool": {"filter": _facet_filters(request)}},
        "aggs": {
            "dates": {
                # auto_date_histogram is not in Elasticsearch's core distribution.
                "date_histogram": {
                    "field": "published_at",
                    "calendar_interval": interval,
                    "format": "yyyy-MM-dd",
                }
            }
        },
    }
    aggs["undated"] = undated_agg(request)  # issue 14 item 7: the articles no bar can hold
    query = _counting_query(request)
    if meaning is not None:
        neighbours = {"ids": {"values": list(meaning)}}
        aggs["matched"] = {
            "filter": {"bool": {"filter": _facet_filters(request)}},
            "aggs": {"meaning_only": {"filter": {"bool": {"must_not": [query]}}}},
        }
        if request.mode == "semantic":
            query = {"bool": {"filter": [neighbours]}}
        else:
            query = {"bool": {"should": [query, neighbours], "minimum_should_match": 1}}
    return {
        "query": query,
        **({"suggest": _spelling_suggester(request.query)} if request.query.strip() else {}),
        "aggs": aggs,
        "size": 0,
        "track_total_hits": False,
    }


def _shape_facets(
    request: SearchRequest, aggregations: Mapping[str, Any]
) -> dict[str, list[FacetValue]]:
    facets: dict[str, list[FacetValue]] = {}
    for name, facet in FACETS.items():
        selected = set(request.filters.get(name, ()))
        buckets = aggregations.get(name, {}).get("values", {}).get("buckets", [])
        values: list[FacetValue] = [
            {"value": b["key"], "count": b["doc_count"], "selected": b["key"] in selected}
            for b in buckets
        ]
        # A selected value stays visible, with its count, even when it falls out of the top
        # (None: a place selected by name, which the id count cannot say).
        shown = {v["value"] for v in values}
        counts = {
            str(b["key"]): b["doc_count"]
            for b in aggregations.get(name, {}).get("selected", {}).get("buckets", [])
        }
        by_id = facet.kind == "place"
        values += [
            {
                "value": value,
                "count": counts.get(value, 0) if not by_id or value.isdigit() else None,
                "selected": True,
            }
            for value in sorted(selected - shown)
        ]
        if by_id:
            labels = {
                str(b["key"]): place_label(b)
                for key in ("values", "selected")
                for b in aggregations.get(name, {}).get(key, {}).get("buckets", [])
            }
            for value in values:
                # An id names its place; a name (an older link) is its own label.
                value["label"] = labels.get(value["value"]) or value["value"]
        facets[name] = values
    return facets


class TimelineBucket(TypedDict):
    date: str  # the interval's first day, 2025-09-30
    count: int


class Timeline(TypedDict):
    interval: str  # day, week, month, quarter or year
    buckets: list[TimelineBucket]
    # The matches without a publication date, which no bar holds (None: not counted, as
    # when a date range leaves them out).
    without_date: int | None


def _shape_timeline(aggregations: Mapping[str, Any], interval: str) -> Timeline:
    dates = aggregations.get("timeline", {}).get("dates", {})
    buckets: list[TimelineBucket] = [
        {"date": b["key_as_string"], "count": b["doc_count"]} for b in dates.get("buckets", [])
    ]
    # The matches without a publication date, which no bar holds (None: not counted).
    undated = aggregations.get("undated", {}).get("doc_count")
    return {"interval": interval, "buckets": buckets, "without_date": undated}


def undated_agg(request: SearchRequest) -> dict[str, Any]:
    """How many of the facets request's matches have no publication date (after the facet
    filters, as the timeline counts): none when a date range applies, which leaves them out."""
    return {"filter": {"bool": {"filter": [*_facet_filters(request), UNDATED]}}}


class SearchHit(TypedDict):
    """One hit of a search, as the page, the JSON API, the feeds and related stories show it."""

    id: str
    title: str | None
    # The title with the query's words in <mark> (the rest escaped: safe to insert as is).
    title_html: str | None
    url: str | None
    source: str | None
    authors: list[str]
    published_at: str | None  # ISO 8601
    language: str | None
    dateline: dict[str, Any] | None
    word_count: int | None
    score: float | None
    snippet: str  # highlighted fragments of the body (HTML, escaped around the <mark> tags)
    # Copies grouped (near-duplicates listed as one entry): the group's size and its distinct
    # sources; None when every copy is listed.
    copies: int | None
    copy_sources: int | None
    # The article's story (issue 17); None for an article indexed before stories.
    story: HitStory | None


class HitStory(TypedDict):
    id: str
    title: str | None  # its record's (web/backend.py reads them); None when unknown
    # Grouped by story: how many matching articles the entry stands for (itself included);
    # None when stories are not grouped.
    matches: int | None


def shape_hit(hit: Mapping[str, Any], copies: Mapping[str, int] | None = None) -> SearchHit:
    """A hit for the page and the API. ``copies``: its near-duplicate group's size and
    distinct sources (``count``, ``sources``) when copies are grouped; ungrouped, ``copies``
    and ``copy_sources`` are None."""
    source = hit.get("_source", {})
    highlight = hit.get("highlight", {})
    story_id = (source.get("story") or {}).get("id")
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
        "copies": copies["count"] if copies is not None else None,
        "copy_sources": copies["sources"] if copies is not None else None,
        "story": {"id": str(story_id), "title": None, "matches": None} if story_id else None,
    }


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int = RRF_K) -> list[str]:
    """Ids ordered by the sum of 1 / (k + rank) over the rankings (Cormack et al., 2009); ties
    keep the order in which ids were first seen."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc_id in enumerate(ranking, start=1):
            scores[doc_id] = scores.get(doc_id, 0.0) + 1.0 / (k + rank)
    return sorted(scores, key=lambda doc_id: -scores[doc_id])


def group_copies(ranked: Sequence[str], clusters: Mapping[str, str | None]) -> list[str]:
    """The ranking with one id per near-duplicate cluster, its best-ranked member; an id
    without a cluster is its own group."""
    seen: set[str] = set()
    kept = []
    for doc_id in ranked:
        key = clusters.get(doc_id) or doc_id
        if key not in seen:
            seen.add(key)
            kept.append(doc_id)
    return kept


def page_count(
    mode: str, size: int, *, total: int = 0, groups: int | None = None, listed: int = 0
) -> int:
    """How many pages the pager may link, each of which answers with hits: a meaning mode's
    fused list (``listed`` ids, at most FUSION_DEPTH deep, the deepest page the API serves);
    keyword mode's groups (collapse pages by ``from``, within MAX_RESULT_WINDOW) or, ungrouped,
    its total (a cursor goes past the window, up to the deepest page number the API takes)."""
    if mode != "keyword":
        pages = min(-(-listed // size), FUSION_DEPTH // size)
    elif groups is not None:
        pages = min(-(-groups // size), MAX_RESULT_WINDOW // size)
    else:
        pages = min(-(-total // size), MAX_RESULT_WINDOW)
    return max(1, pages)


def constraint_filters(request: SearchRequest) -> list[dict[str, Any]]:
    """The query's hard constraints (``hard_constraints``) as filters, for the meaning side:
    a kNN neighbour keeps every quoted phrase and no excluded word."""
    constraints = hard_constraints(request.query)
    if constraints.whole:
        return [_matching_query(request)]
    filters: list[dict[str, Any]] = [_constraint_query(text) for text in constraints.required]
    if constraints.excluded:
        filters.append(
            {"bool": {"must_not": [_constraint_query(text) for text in constraints.excluded]}}
        )
    return filters


def _constraint_query(text: str) -> dict[str, Any]:
    """One phrase or word as the keyword side reads it (fields, analysis, operators)."""
    return {
        "simple_query_string": {
            "query": text,
            "fields": SEARCH_FIELDS,
            "default_operator": "and",
            "flags": "AND|OR|NOT|PHRASE|PREFIX|PRECEDENCE|WHITESPACE|ESCAPE",
        }
    }


# A ranking before fusion needs only its ids: read from the ``id`` field's doc values (the same
# value as ``_id``: shared/index/bulk.py) rather than from stored fields, 100 hits cost 3 ms less.
_IDS_ONLY: dict[str, Any] = {"_source": False, "stored_fields": "_none_", "docvalue_fields": ["id"]}
# ... and, from doc values too, each hit's cluster (to group copies) and date (the timeline).
_RANKING_FIELDS: dict[str, Any] = _IDS_ONLY | {
    "docvalue_fields": [
        "id",
        CLUSTER_FIELD,
        STORY_FIELD,
        {"field": "published_at", "format": "yyyy-MM-dd"},
    ]
}


def _hit_ids(response: ObjectApiResponse[Any]) -> list[str]:
    return [hit["fields"]["id"][0] for hit in response["hits"]["hits"]]


def _ranking(
    response: ObjectApiResponse[Any],
    clusters: dict[str, str | None],
    dates: list[str],
    stories: dict[str, str | None] | None = None,
) -> list[str]:
    """A ranking's ids; its hits' clusters, dates and stories go into ``clusters``, ``dates``
    and ``stories``."""
    ids = []
    for hit in response["hits"]["hits"]:
        fields = hit["fields"]
        doc_id = fields["id"][0]
        ids.append(doc_id)
        clusters[doc_id] = (fields.get(CLUSTER_FIELD) or [None])[0]
        if stories is not None:
            stories[doc_id] = (fields.get(STORY_FIELD) or [None])[0]
        dates.extend(fields.get("published_at") or [])
    return ids


def _group_keys(
    clusters: Mapping[str, str | None], stories: Mapping[str, str | None], by_story: bool
) -> dict[str, str | None]:
    """What ``group_copies`` groups a fused ranking by: the story where there is one (when
    grouping by story), else the near-duplicate cluster."""
    if not by_story:
        return dict(clusters)
    keys: dict[str, str | None] = {}
    for doc_id, cluster in clusters.items():
        story = stories.get(doc_id)
        keys[doc_id] = f"story:{story}" if story else (f"cluster:{cluster}" if cluster else None)
    return keys


def _knn_body(request: SearchRequest, vector: list[float]) -> dict[str, Any]:
    return {
        "knn": {
            "field": "embedding",
            "query_vector": vector,
            "k": FUSION_DEPTH,
            "num_candidates": 2 * FUSION_DEPTH,
            "similarity": SEMANTIC_MIN_SIMILARITY,  # the raw dot product: cosine, unit vectors
            # Filtered during the search (not after it), so the k neighbours all obey the
            # dates, the facets and the query's phrases and exclusions.
            "filter": _date_filter(request) + _facet_filters(request) + constraint_filters(request),
        },
        "size": FUSION_DEPTH,
        **_RANKING_FIELDS,
    }


def _copies_aggs(
    request: SearchRequest,
    candidates: Mapping[str, Any],
    clusters: list[str],
    stories: Sequence[str] = (),
) -> dict[str, Any]:
    """Per cluster of a page, how many of the candidates are its copies and from how many
    sources (a ``global`` aggregation: the page's own query is only its ids); per story of
    the page (grouped by story), how many of the candidates are its articles."""
    aggs: dict[str, Any] = {}
    if clusters:
        aggs["listed"] = {
            "filter": {
                "bool": {
                    "filter": [
                        candidates,
                        *_facet_filters(request),
                        {"terms": {CLUSTER_FIELD: clusters}},
                    ]
                }
            },
            "aggs": {
                "clusters": {
                    "terms": {"field": CLUSTER_FIELD, "size": len(clusters)},
                    "aggs": {"sources": {"cardinality": {"field": "source"}}},
                }
            },
        }
    if stories:
        aggs["stories"] = {
            "filter": {
                "bool": {
                    "filter": [
                        candidates,
                        *_facet_filters(request),
                        {"terms": {STORY_FIELD: list(stories)}},
                    ]
                }
            },
            "aggs": {"ids": {"terms": {"field": STORY_FIELD, "size": len(stories)}}},
        }
    # (A terms aggregation of size 0 is refused: a page may have stories and no clusters.)
    return {"copies": {"global": {}, "aggs": aggs}}


def copies_body(
    request: SearchRequest, clusters: list[str], stories: Sequence[str] = ()
) -> dict[str, Any]:
    """Keyword mode's copies of a page's clusters (and articles of its stories) among the
    matches (``_copies_aggs``)."""
    return {
        "query": {"match_all": {}},
        "size": 0,
        "track_total_hits": False,
        "aggs": _copies_aggs(request, _counting_query(request), clusters, stories),
    }


def _story_matches(aggregations: Mapping[str, Any]) -> dict[str, int]:
    """Story id -> how many of the candidates are its articles (``_copies_aggs``)."""
    buckets = aggregations.get("copies", {}).get("stories", {}).get("ids", {})
    return {str(b["key"]): int(b["doc_count"]) for b in buckets.get("buckets", [])}


def _copies(aggregations: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """Cluster id -> its copies' ``count`` and distinct ``sources`` (``_copies_aggs``)."""
    buckets = aggregations.get("copies", {}).get("listed", {}).get("clusters", {})
    return {
        b["key"]: {"count": int(b["doc_count"]), "sources": int(b["sources"]["value"])}
        for b in buckets.get("buckets", [])
    }


def _shape_grouped(
    hits: list[dict[str, Any]],
    clusters: Mapping[str, str | None],
    copies: Mapping[str, Mapping[str, int]] | None,
    stories: Mapping[str, int] | None = None,
) -> list[SearchHit]:
    """The hits shaped, each with its cluster's copies (``copies`` None: ungrouped); an
    article without a cluster is its own single copy. ``stories`` (grouped by story): how
    many matches each story of the page has."""
    single = {"count": 1, "sources": 1}
    shaped = [
        shape_hit(
            hit,
            None if copies is None else copies.get(clusters.get(hit["_id"]) or "", single),
        )
        for hit in hits
    ]
    if stories is not None:
        for hit in shaped:
            if hit["story"] is not None:
                hit["story"]["matches"] = stories.get(hit["story"]["id"], 1)
    return shaped


def _page_by_ids(
    es: Elasticsearch,
    options: dict[str, Any],
    body: Mapping[str, Any],
    ids: list[str],
    copies: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], Mapping[str, Any]]:
    """The hits for one page of a fused ranking, in that order, highlighted for the query of
    ``body`` (the keyword search's), and the aggregations ``copies`` asks for."""
    if not ids:
        return [], {}
    highlight = body["highlight"] | {"highlight_query": body["query"]["bool"]["must"][0]}
    response = es.search(
        **options,
        query={"ids": {"values": ids}},
        size=len(ids),
        track_total_hits=False,
        source={"includes": _LIST_SOURCE},
        highlight=highlight,
        aggs=copies,
    )
    by_id = {hit["_id"]: hit for hit in response["hits"]["hits"]}
    return [by_id[doc_id] for doc_id in ids if doc_id in by_id], response.get("aggregations", {})


class SearchResult(TypedDict):
    """A search's answer: the page and ``GET /api/search`` show the same (the API as JSON)."""

    mode: str  # as run: keyword when the query is empty or sorted by date
    did_you_mean: str | None
    query: str
    page: int
    size: int
    total: int
    total_relation: str  # eq, or gte when counting stopped
    # Of the total, how many match the words and how many came by meaning alone.
    total_words: int
    total_meaning_only: int
    # How many pages hold hits: every page up to it answers with some.
    pages: int
    grouped: bool
    # Grouped by story too: one entry per story (its ``story.matches``), then per cluster.
    by_story: bool
    took_ms: int
    # Elasticsearch ran out of time (``timeout_s``) and counted or ranked only part.
    timed_out: bool
    hits: list[SearchHit]
    next_after: str | None
    facets: dict[str, list[FacetValue]]
    timeline: Timeline
    filters: dict[str, list[str]]
    date_from: str | None
    date_to: str | None
    sort: str
    # Added by web/fallback.py's search_with_fallbacks (what the service answers).
    corrected: NotRequired[dict[str, str] | None]
    relaxed: NotRequired[dict[str, Any] | None]
    exact: NotRequired[bool]
    when: NotRequired[str | None]
    undated: NotRequired[bool]


def search_articles(
    es: Elasticsearch,
    alias: str,
    request: SearchRequest,
    embed: Callable[[str], list[float]] | None = None,
    *,
    timeout_s: float | None = None,
    highlight_max_chars: int = HIGHLIGHT_MAX_CHARS,
) -> SearchResult:
    """Run a search. ``embed`` turns the query into a vector for semantic and hybrid modes;
    without it every search is a keyword search. With ``timeout_s`` each request answers
    with the matches found by then (``timed_out`` in the result) rather than go on.

    The requests overlap, so a search waits for its longest chain, not for their sum
    (Elasticsearch runs each on a search thread of its own; numpy leaves the GIL while it
    multiplies). Keyword: the page of hits beside the facets and timeline (after a bounds
    request that picks the timeline's interval). Hybrid and semantic: the keyword ranking
    (hybrid) and the keyword matches' date bounds while the query is embedded, then the kNN
    search, then side by side the page of fused hits by id and the facets, timeline and
    totals of the candidate set (keyword matches and kNN neighbours): one set counted, listed
    and charted.
    """
    options: dict[str, Any] = {"index": alias, "ignore_unavailable": True, "allow_no_indices": True}
    if timeout_s is not None:
        options["timeout"] = _timeout(timeout_s)
    mode = request.mode if request.ranked_by_meaning and embed is not None else "keyword"
    pool = _search_pool()
    grouped = request.grouped
    counted: Mapping[str, Any]
    if embed is None or mode == "keyword":
        facets = pool.submit(_facets_and_timeline, es, options, request)
        if request.by_story:
            listed = _story_parts(es, options, request, highlight_max_chars)
        else:
            listed = _keyword_page(
                es.search(
                    **options, **build_hits_body(request, highlight_max_chars, collapse=grouped)
                ),
                grouped,
            )
        response = listed.response
        found_hits = listed.hits
        clusters = listed.clusters
        page_clusters = sorted({c for c in clusters.values() if c})
        page_stories = _page_stories(found_hits) if request.by_story else []
        copies = None
        stories_found = None
        if grouped:
            page_aggs = (
                es.search(**options, **copies_body(request, page_clusters, page_stories)).get(
                    "aggregations", {}
                )
                if page_clusters or page_stories
                else {}
            )
            copies = _copies(page_aggs)
            stories_found = _story_matches(page_aggs) if request.by_story else None
        hits = _shape_grouped(found_hits, clusters, copies, stories_found)
        total = listed.total
        groups = listed.groups
        pages = page_count(mode, request.size, total=total["value"], groups=groups)
        total_words = total["value"]
        # Grouped too: the cursor's pages list every copy (collapse refuses search_after).
        next_after = _next_cursor(request, listed.sorted_hits)
        timed_out = listed.timed_out
        counted, interval = facets.result()
    else:
        hits_body = build_hits_body(request, highlight_max_chars)
        vector = pool.submit(embed, request.query)
        bounds = (
            pool.submit(lambda: es.search(**options, **build_bounds_body(request)))
            if mode == "hybrid"
            else None
        )
        clusters = {}
        story_of: dict[str, str | None] = {}
        dates: list[str] = []
        words: list[str] = []
        timed_out = False
        if mode == "hybrid":
            keyword_body = hits_body | {
                "size": FUSION_DEPTH,
                "from": 0,
                "track_total_hits": False,
                **_RANKING_FIELDS,
            }
            keyword_body.pop("highlight")
            by_words = es.search(**options, **keyword_body)
            words = _ranking(by_words, clusters, dates, story_of)
            timed_out = bool(by_words.get("timed_out"))
        response = es.search(**options, **_knn_body(request, vector.result()))
        meaning = _ranking(response, clusters, dates, story_of)
        if bounds is not None:
            found = bounds.result().get("aggregations", {})
            dates += [
                found[n]["value_as_string"]
                for n in ("first", "last")
                if found.get(n, {}).get("value_as_string")
            ]
        dates = [d[:10] for d in dates]
        interval = (
            choose_interval(date.fromisoformat(min(dates)), date.fromisoformat(max(dates)))
            if dates
            else "month"
        )
        # Only now the facets: they count the candidate set, which the kNN search completes.
        facets_body = build_facets_body(request, interval, meaning)
        counting = pool.submit(lambda: es.search(**options, **facets_body).body)
        fused = reciprocal_rank_fusion([words, meaning] if words else [meaning])
        if grouped:
            fused = group_copies(fused, _group_keys(clusters, story_of, request.by_story))
        fused = fused[:FUSION_DEPTH]
        page_ids = fused[request.offset : request.offset + request.size]
        page_clusters = sorted({c for c in (clusters.get(i) for i in page_ids) if c})
        page_stories = (
            sorted({s for s in (story_of.get(i) for i in page_ids) if s})
            if request.by_story
            else []
        )
        copies_aggs = (
            _copies_aggs(request, facets_body["query"], page_clusters, page_stories)
            if grouped and (page_clusters or page_stories)
            else None
        )
        found_hits, page_aggs = _page_by_ids(es, options, hits_body, page_ids, copies_aggs)
        hits = _shape_grouped(
            found_hits,
            clusters,
            _copies(page_aggs) if grouped else None,
            _story_matches(page_aggs) if request.by_story else None,
        )
        counted = counting.result()
        matched = counted.get("aggregations", {}).get("matched", {})
        total = {"value": int(matched.get("doc_count", 0)), "relation": "eq"}
        total_words = total["value"] - int(matched.get("meaning_only", {}).get("doc_count", 0))
        pages = page_count(mode, request.size, listed=len(fused))
        next_after = None
        timed_out = timed_out or bool(response.get("timed_out"))
    aggregations = counted.get("aggregations", {})
    return {
        "mode": mode,
        "did_you_mean": corrected_query(request.query, counted.get("suggest")),
        "query": request.query,
        "page": request.page,
        "size": request.size,
        "total": total["value"],
        "total_relation": total["relation"],
        # Of the total, how many match the words and how many came by meaning alone.
        "total_words": total_words,
        "total_meaning_only": total["value"] - total_words,
        # How many pages hold hits: every page up to it answers with some.
        "pages": pages,
        "grouped": grouped,
        "by_story": request.by_story,
        "took_ms": response["took"],
        # Elasticsearch ran out of time (``timeout_s``) and counted or ranked only part.
        "timed_out": timed_out or bool(counted.get("timed_out")),
        "hits": hits,
        "next_after": next_after,
        "facets": _shape_facets(request, aggregations),
        "timeline": _shape_timeline(aggregations, interval),
        "filters": {name: list(values) for name, values in request.filters.items() if values},
        "date_from": request.date_from.isoformat() if request.date_from else None,
        "date_to": request.date_to.isoformat() if request.date_to else None,
        "sort": request.sort,
    }


@dataclass(frozen=True)
class _Listed:
    """A keyword page's hits (``_source``, highlights), each one's cluster, how many match
    (``total``) and how many groups they form (grouped), and the hits whose last ``sort``
    values make the next cursor."""

    response: ObjectApiResponse[Any]  # the (first) answer: its ``took``
    hits: list[dict[str, Any]]
    clusters: dict[str, str | None]
    total: dict[str, Any]
    groups: int | None
    sorted_hits: list[dict[str, Any]]
    timed_out: bool


def _keyword_page(response: ObjectApiResponse[Any], grouped: bool) -> _Listed:
    hits = response["hits"]["hits"]
    return _Listed(
        response=response,
        hits=hits,
        # Collapsed hits carry their cluster as ``fields`` (the collapse key, or asked for).
        clusters={h["_id"]: (h.get("fields", {}).get(CLUSTER_FIELD) or [None])[0] for h in hits},
        total=dict(response["hits"]["total"]),
        groups=(
            int(response["aggregations"]["groups"]["value"])
            if grouped and "aggregations" in response
            else None
        ),
        sorted_hits=hits,
        timed_out=bool(response.get("timed_out")),
    )


def _unless_unmapped(search: Callable[[], Any]) -> Any | None:
    """A search collapsing on STORY_FIELD, or None when no index maps it (an index from
    before stories: Elasticsearch refuses to collapse on a field it does not know)."""
    try:
        return search()
    except BadRequestError as error:
        if f"no mapping found for `{STORY_FIELD}`" in str(error):
            return None
        raise


def _story_parts(
    es: Elasticsearch, options: dict[str, Any], request: SearchRequest, highlight_max_chars: int
) -> _Listed:
    """Keyword mode's page grouped by story: the articles with a story collapsed by story, and
    beside them those without one (indexed before stories) by near-duplicate cluster
    (Elasticsearch's collapse would make them all one group). Two collapsed searches side by
    side; when both parts have matches, their rankings down to this page (ids and sort values
    only) are merged by sort values (one query, so scores compare) and the page fetched by id."""
    pool = _search_pool()
    bodies = {
        part: build_hits_body(request, highlight_max_chars, collapse=True, part=part)
        for part in ("stories", "rest")
    }
    rest_future = pool.submit(lambda: es.search(**options, **bodies["rest"]))
    with_story = _unless_unmapped(lambda: es.search(**options, **bodies["stories"]))
    rest = _keyword_page(rest_future.result(), True)
    if with_story is None or not with_story["hits"]["total"]["value"]:
        return rest
    story_part = _keyword_page(with_story, True)
    if not rest.total["value"]:
        return story_part
    depth = request.offset + request.size
    ranking_bodies = [
        {k: v for k, v in body.items() if k not in ("highlight", "aggs", "from", "_source")}
        | _IDS_ONLY
        | {"docvalue_fields": ["id", CLUSTER_FIELD], "from": 0, "size": depth}
        | {"track_total_hits": False}
        for body in (bodies["stories"], bodies["rest"])
    ]
    rest_ranking = pool.submit(lambda: es.search(**options, **ranking_bodies[1]))
    story_ranking = es.search(**options, **ranking_bodies[0])
    key = _sort_key(request)
    ranked = sorted(
        [*story_ranking["hits"]["hits"], *rest_ranking.result()["hits"]["hits"]], key=key
    )
    page = ranked[request.offset : depth]
    ids = [hit["fields"]["id"][0] for hit in page]
    found, _ = _page_by_ids(es, options, bodies["stories"], ids)
    return _Listed(
        response=story_part.response,
        hits=found,
        clusters={
            hit["fields"]["id"][0]: (hit["fields"].get(CLUSTER_FIELD) or [None])[0] for hit in page
        },
        total={
            "value": story_part.total["value"] + rest.total["value"],
            "relation": "eq"
            if story_part.total["relation"] == rest.total["relation"] == "eq"
            else "gte",
        },
        groups=(story_part.groups or 0) + (rest.groups or 0),
        sorted_hits=page,
        timed_out=story_part.timed_out or rest.timed_out,
    )


def _sort_key(request: SearchRequest) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """Orders hits of one query's rankings as Elasticsearch would (``_sort``): by their
    ``sort`` values, numbers negated where descending (a missing date sorts last as
    Elasticsearch's own extreme value), strings ascending."""
    descending = []
    for clause in _sort(request):
        spec = next(iter(clause.values())) if isinstance(clause, Mapping) else "desc"
        order = spec.get("order", "asc") if isinstance(spec, Mapping) else spec
        descending.append(order == "desc")  # "_score" alone: best first

    def key(hit: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(
            -value if down and isinstance(value, int | float) else value
            for value, down in zip(hit["sort"], descending, strict=True)
        )

    return key


def _page_stories(hits: Sequence[Mapping[str, Any]]) -> list[str]:
    """The stories of a page's hits."""
    return sorted(
        {
            str(story)
            for hit in hits
            if (story := (hit.get("_source", {}).get("story") or {}).get("id"))
        }
    )


def _facets_and_timeline(
    es: Elasticsearch, options: Mapping[str, Any], request: SearchRequest
) -> tuple[Mapping[str, Any], str]:
    """The facets request's answer and the timeline's interval (from a bounds request)."""
    bounds = es.search(**options, **build_bounds_body(request)).get("aggregations", {})
    first, last = (bounds.get(name, {}).get("value_as_string") for name in ("first", "last"))
    interval = (
        choose_interval(date.fromisoformat(first[:10]), date.fromisoformat(last[:10]))
        if first and last
        else "month"
    )
    return es.search(**options, **build_facets_body(request, interval)).body, interval


@lru_cache(maxsize=1)
def _search_pool() -> ThreadPoolExecutor:
    """Threads for the side chains of searches, per process (made on first use, after any
    fork). A chain never waits for another, so a busy pool only queues them."""
    return ThreadPoolExecutor(max_workers=8, thread_name_prefix="search")


def _next_cursor(request: SearchRequest, hits: list[dict[str, Any]]) -> str | None:
    """A cursor to the next page, when this page was full."""
    if len(hits) < request.size or "sort" not in hits[-1]:
        return None
    return encode_cursor(hits[-1]["sort"])


EXPORT_CHUNK = 500
# Columns of an export; the stored fields they come from are _EXPORT_SOURCE.
EXPORT_FIELDS = (
    "id",
    "published_at",
    "source",
    "title",
    "url",
    "language",
    "dateline_place",
    "dateline_country",
    "people",
    "organisations",
    "places",
    "keywords",
    "word_count",
)
_EXPORT_SOURCE = [*(f for f in EXPORT_FIELDS if not f.startswith("dateline_")), "dateline"]


def _timeout(seconds: float | None) -> str | None:
    """A search's ``timeout`` parameter: Elasticsearch's time value in milliseconds."""
    return None if seconds is None else f"{max(1, round(seconds * 1000))}ms"


class ExportIncompleteError(RuntimeError):
    """A page of an export timed out: the file would silently lack rows, so it is cut off
    instead (the client sees a broken transfer, not a short file that looks whole)."""


def _export_query(request: SearchRequest) -> dict[str, Any]:
    """The export's matching: the search's words, dates and facet filters, unscored ranking
    aside (keyword matching, as in ``build_hits_body``)."""
    page = replace(request, mode="keyword")
    return {
        "bool": {
            "must": [_text_query(page)],
            "filter": _date_filter(page) + _facet_filters(page),
        }
    }


def count_export(
    es: Elasticsearch, alias: str, request: SearchRequest, up_to: int, timeout_s: float | None
) -> tuple[int, bool]:
    """How many articles an export of ``request`` would write, counted up to ``up_to`` (the
    count, and whether it is exact). A count cut short by the timeout would make a short file
    look whole: it raises ``ExportIncompleteError``."""
    response = es.search(
        index=alias,
        ignore_unavailable=True,
        allow_no_indices=True,
        query=_export_query(request),
        size=0,
        track_total_hits=up_to,
        timeout=_timeout(timeout_s),
    )
    if response.get("timed_out"):
        raise ExportIncompleteError("counting the export's rows timed out")
    found = response["hits"]["total"]
    return int(found["value"]), found["relation"] == "eq"


def export_rows(
    es: Elasticsearch,
    alias: str,
    request: SearchRequest,
    chunk: int = EXPORT_CHUNK,
    *,
    limit: int | None = None,
    timeout_s: float | None = None,
) -> Iterator[dict[str, Any]]:
    """Every matching article (keyword matching, the request's sort), page by page with
    search_after, so an export is not bounded by the 10,000-hit window; at most ``limit``.
    Articles indexed while it runs may or may not appear. A page that times out raises
    ``ExportIncompleteError`` rather than skip its rows."""
    after: tuple[Any, ...] = ()
    written = 0
    while limit is None or written < limit:
        size = chunk if limit is None else min(chunk, limit - written)
        page = replace(request, page=1, size=size, after=after, mode="keyword")
        body = build_hits_body(page)
        for unused in ("highlight", "post_filter"):
            body.pop(unused)
        body["query"] = _export_query(page)
        body["track_total_hits"] = False
        body["_source"] = _EXPORT_SOURCE
        if timeout_s:
            body["timeout"] = _timeout(timeout_s)
        response = es.search(index=alias, ignore_unavailable=True, allow_no_indices=True, **body)
        if response.get("timed_out"):
            raise ExportIncompleteError(f"a page of the export timed out after {written} rows")
        hits = response["hits"]["hits"]
        written += len(hits)
        for hit in hits:
            source = hit["_source"]
            dateline = source.get("dateline") or {}
            yield {
                "id": hit["_id"],
                "published_at": source.get("published_at"),
                "source": source.get("source"),
                "title": source.get("title"),
                "url": source.get("url"),
                "language": source.get("language"),
                "dateline_place": dateline.get("place"),
                "dateline_country": dateline.get("country"),
                "people": source.get("people") or [],
                "organisations": source.get("organisations") or [],
                "places": [place["name"] for place in source.get("places") or []],
                "keywords": source.get("keywords") or [],
                "word_count": source.get("word_count"),
            }
        if len(hits) < size:
            return
        after = tuple(hits[-1]["sort"])


_ARTICLE_ID = re.compile(ARTICLE_ID_PATTERN)


def get_article(es: Elasticsearch, alias: str, article_id: str) -> dict[str, Any] | None:
    # Every id is 32 hex digits (shared.schema.article_id): anything else names no article, and
    # a very long one would make Elasticsearch refuse the request line (a 400, not a 404).
    if not _ARTICLE_ID.fullmatch(article_id):
        return None
    # The autocomplete inputs are index machinery derived from the article, not part of it.
    response = es.options(ignore_status=404).get(
        index=alias, id=article_id, source_excludes=["suggest"]
    )
    if not response.get("found"):
        return None
    article: dict[str, Any] = response["_source"]
    return article
