"""Entity pages: one person, organisation or place across the index.

A profile is the entity's stories (newest first), its timeline, the quotes it said (people),
where it is (places) and the entities named beside it, from one search request; a person's
page asks one small request more first, to merge the other spellings of the name (see
``merge_variants``). The request builders and the shaping are plain functions that unit tests
call without a cluster.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from elasticsearch import Elasticsearch

from web.facets import ENTITY_FACETS, FACETS
from web.search import (
    _LIST_SOURCE,
    SearchHit,
    choose_interval,
    place_filter,
    place_label,
    place_label_agg,
    shape_hit,
)

# Kind (as in URLs) -> the search facet that filters on it (the facets' own declaration).
KINDS: dict[str, str] = ENTITY_FACETS
# Entity keywords are indexed up to this many characters (worker/enrich/steps/find_entities.py).
MAX_NAME_CHARS = 300
STORIES = 10
COOCCURRING_SIZE = 10
# A person's page shows the quotes from this many of the newest articles quoting them (copies
# of one story count once: shape_quotes).
QUOTE_ARTICLES = 20
# The field naming an article's near-duplicate cluster: the page lists each story once, its
# copies counted beside it ("n copies from m sources").
CLUSTER = "duplicates.cluster_id"
# A story's copies are counted, and their distinct sources up to this many (as the search
# page counts them: "n copies from m sources").
COPY_SOURCES = 20
MAX_QUOTES = 25
# Fuller names listed on the page of a bare surname.
LONGER_NAMES = 10
# Names of more words are not merged (one aggregation per word): the worker keeps people's
# names to 6 words (worker.enrich.entities.MAX_NAME_TOKENS), so none is indexed anyway.
MAX_MERGED_WORDS = 8
_SEARCH_OPTIONS: dict[str, Any] = {"ignore_unavailable": True, "allow_no_indices": True}


def invalid_name(name: str) -> str | None:
    """Why ``name`` cannot be an entity's name, or None. Control characters (a ``%00`` in the
    URL) and names longer than the index keeps are a client's mistake, not an unknown entity."""
    if not name.strip():
        return "the name is empty"
    if len(name) > MAX_NAME_CHARS:
        return f"a name has at most {MAX_NAME_CHARS} characters"
    if any(unicodedata.category(char) == "Cc" for char in name):
        return "the name contains control characters"
    return None


# --- name variants (people) -------------------------------------------------------------------


def name_suffixes(name: str) -> list[str]:
    """The shorter names a full name ends with, longest first: "Martin Luther King" →
    ["Luther King", "King"]; none for a name of more than ``MAX_MERGED_WORDS`` words."""
    tokens = name.split()
    if len(tokens) > MAX_MERGED_WORDS:
        return []
    return [" ".join(tokens[start:]) for start in range(1, len(tokens))]


def regex_literal(text: str) -> str:
    """``text`` as a Lucene regular expression that matches only itself. A backslash makes any
    character literal, so everything but letters, digits and spaces gets one."""
    return "".join(char if char.isalnum() or char == " " else "\\" + char for char in text)


def build_variants_body(name: str) -> dict[str, Any]:
    """Indexed people whose names end like ``name`` does, for ``merge_variants`` and
    ``longer_names``.

    Every such name holds the last word of ``name``, so a phrase match on it narrows the
    documents cheaply; the terms aggregations then keep the exact names. ``suffixN`` finds the
    names that are, or end with, the N-th suffix. Its size leaves room for every name that is
    not a conflict (the suffixes of ``name`` that end with it, and ``name`` itself: at most one
    per word) plus one: whenever another person shares the suffix, at least one such person
    is in the buckets, so no conflict can hide below the cut.
    """
    suffixes = name_suffixes(name)
    size = len(name.split()) + 1
    aggs: dict[str, Any] = {
        f"suffix{index}": {
            "terms": {
                "field": FACETS["people"].field,
                "include": "(.+ )?" + regex_literal(suffix),
                "size": size,
            }
        }
        for index, suffix in enumerate(suffixes)
    }
    aggs["longer"] = {
        "terms": {
            "field": FACETS["people"].field,
            "include": ".+ " + regex_literal(name),
            "size": LONGER_NAMES,
        }
    }
    last_word = name.split()[-1] if name.split() else name
    return {
        "query": {"match_phrase": {"people.text": last_word}},
        "size": 0,
        "track_total_hits": False,
        "aggs": aggs,
    }


def _ends_with_words(name: str, suffix: str) -> bool:
    return name == suffix or name.endswith(" " + suffix)


def merge_variants(name: str, indexed: Mapping[str, int]) -> list[dict[str, Any]]:
    """The shorter spellings of a person's name counted on their page: [{name, count}].

    ``indexed`` maps indexed people names to their article counts: at least every name that
    is, or ends with, a suffix of ``name`` (``build_variants_body``). Within one article the
    worker already writes a later "Trump" as the "Donald Trump" named before; across articles
    it cannot, and an article may name only "Trump". Such a suffix (whole words: "Trump",
    "Luther King" of "Martin Luther King") is merged into the full name when

    - the full name itself is indexed (a page for an unknown "Barack Trump" merges nothing),
    - the suffix is indexed as a name of its own, and
    - no other indexed person's name ends with it: "Ivanka Trump" beside "Donald Trump" makes
      "Trump" ambiguous, and it stays on its own page. Names ending with a longer suffix of
      the same full name ("Luther King" for "King") are not other people.

    The rule is deliberately strict: "Donald J. Trump" counts as another person here, so a
    bare "Trump" is then merged into neither. Matching is exact and case-sensitive, as the
    index stores the names.
    """
    if name not in indexed:
        return []
    own = {name, *name_suffixes(name)}
    merged = []
    for suffix in name_suffixes(name):
        if suffix not in indexed:
            continue
        others = [n for n in indexed if n not in own and _ends_with_words(n, suffix)]
        if not others:
            merged.append({"name": suffix, "count": indexed[suffix]})
    return merged


def longer_names(name: str, indexed: Mapping[str, int]) -> list[dict[str, Any]]:
    """Indexed people whose names end with ``name`` ("Donald Trump" for "Trump"), most
    articles first: who a bare surname may mean."""
    found = [(n, count) for n, count in indexed.items() if n != name and n.endswith(" " + name)]
    found.sort(key=lambda item: (-item[1], item[0]))
    return [{"name": n, "count": count} for n, count in found[:LONGER_NAMES]]


def indexed_names(aggregations: Mapping[str, Any]) -> dict[str, int]:
    """Every name in the variant aggregations, with its article count."""
    names: dict[str, int] = {}
    for agg in aggregations.values():
        for bucket in agg.get("buckets", []):
            names[bucket["key"]] = bucket["doc_count"]
    return names


# --- the profile request ----------------------------------------------------------------------


def build_profile_body(
    kind: str, names: Sequence[str], size: int = STORIES, *, group_copies: bool = True
) -> dict[str, Any]:
    """One request for the entity's newest stories and everything counted about it.

    ``names`` are the entity's name and the variants merged into it; an article naming any of
    them counts. The timeline is counted per day and rolled up here (``rollup_timeline``):
    the interval depends on the first and last day, which a single request cannot know
    beforehand, and the core distribution has no auto_date_histogram. Only days with stories
    come back, so the buckets are bounded by the number of stories, not by the span.
    """
    facet = KINDS[kind]
    if kind == "place":
        # A place page is one GeoNames id; a name (an older link) also matches what an
        # article wrote ("Kiev" finds Kyiv), and the page lists the places it points to.
        ids = [n for n in names if n.isdigit()]
        by_name = [n for n in names if not n.isdigit()]
        entity_filter = place_filter(ids) if ids else place_filter(by_name)
        if by_name and not ids:
            entity_filter = {
                "bool": {
                    "should": [entity_filter, {"terms": {"places.mentioned_as": by_name}}],
                    "minimum_should_match": 1,
                }
            }
    else:
        entity_filter = {"terms": {FACETS[facet].field: list(names)}}
    aggs: dict[str, Any] = {
        "days": {
            "date_histogram": {
                "field": "published_at",
                "calendar_interval": "day",
                "format": "yyyy-MM-dd",
                "min_doc_count": 1,
            }
        },
    }
    for other in ("people", "organisations", "places"):
        terms: dict[str, Any] = {"field": FACETS[other].field, "size": COOCCURRING_SIZE}
        if other == facet:
            terms["exclude"] = list(names)
        aggs[f"with_{other}"] = {"terms": terms}
        if other == "places":  # ids, each with its name
            aggs[f"with_{other}"]["aggs"] = {"label": place_label_agg()}
    if kind == "person":
        by_speaker = {"terms": {"quotes.speaker": list(names)}}
        aggs["quote_count"] = {
            "nested": {"path": "quotes"},
            "aggs": {
                "by_speaker": {
                    "filter": by_speaker,
                    "aggs": {
                        "articles": {
                            "reverse_nested": {},
                            "aggs": {"stories": {"cardinality": {"field": CLUSTER}}},
                        }
                    },
                }
            },
        }
        # The newest articles quoting them, whole: top_hits has no inner_hits, and the quotes
        # of a few articles are small, so their speakers are picked out in shape_quotes.
        aggs["quoted"] = {
            "filter": {"nested": {"path": "quotes", "query": by_speaker}},
            "aggs": {
                "newest": {
                    "top_hits": {
                        "size": QUOTE_ARTICLES,
                        "sort": [{"published_at": {"order": "desc", "missing": "_last"}}],
                        "_source": {
                            "includes": ["title", "published_at", "source", "quotes", CLUSTER]
                        },
                    }
                }
            },
        }
    aggs["stories"] = {"cardinality": {"field": CLUSTER}}
    source = [*_LIST_SOURCE, "places"] if kind == "place" else list(_LIST_SOURCE)
    body: dict[str, Any] = {
        "query": {"bool": {"filter": [entity_filter]}},
        "size": size,
        "sort": [{"published_at": {"order": "desc", "missing": "_last"}}, {"id": "asc"}],
        "track_total_hits": True,
        "_source": source,
        "aggs": aggs,
    }
    if group_copies:
        # One entry per near-duplicate cluster, its newest copy standing for it (field
        # collapsing is core); the inner hits, collapsed again by source, count the group
        # (their total) and its distinct sources (how many come back).
        body["collapse"] = {
            "field": CLUSTER,
            "inner_hits": {
                "name": "copies",
                "size": COPY_SOURCES,
                "_source": False,
                "collapse": {"field": "source"},
            },
        }
    return body


# --- shaping ----------------------------------------------------------------------------------


def period_start(day: date, interval: str) -> date:
    """The first day of the calendar interval holding ``day``, as Elasticsearch's
    date_histogram rounds (weeks start on Monday)."""
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    if interval == "quarter":
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    if interval == "year":
        return date(day.year, 1, 1)
    return day


def next_period(start: date, interval: str) -> date:
    if interval == "week":
        return start + timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}.get(interval)
    if months is None:
        return start + timedelta(days=1)
    month = start.month - 1 + months
    return date(start.year + month // 12, month % 12 + 1, 1)


def rollup_timeline(day_buckets: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Daily counts (``{"key_as_string", "doc_count"}``, days without stories left out) as the
    search page's timeline: ``{"interval", "buckets": [{"date", "count"}]}``, the interval from
    ``choose_interval`` and every period from the first to the last present, empty ones too,
    as date_histogram would give them."""
    counts: dict[date, int] = {}
    for bucket in day_buckets:
        day = date.fromisoformat(str(bucket["key_as_string"])[:10])
        counts[day] = counts.get(day, 0) + int(bucket["doc_count"])
    if not counts:
        return {"interval": "day", "buckets": []}
    interval = choose_interval(min(counts), max(counts))
    per_period: dict[date, int] = {}
    for day, count in counts.items():
        start = period_start(day, interval)
        per_period[start] = per_period.get(start, 0) + count
    buckets = []
    start, last = min(per_period), max(per_period)
    while start <= last:
        buckets.append({"date": start.isoformat(), "count": per_period.get(start, 0)})
        start = next_period(start, interval)
    return {"interval": interval, "buckets": buckets}


def _quote_key(text: Any) -> str:
    """A quote's words, for telling two copies of it apart from two quotes."""
    return " ".join(str(text or "").casefold().split())


def shape_quotes(hits: Iterable[Mapping[str, Any]], names: Sequence[str]) -> list[dict[str, Any]]:
    """The quotes by ``names`` in these articles (newest article first, in text order within
    one), each with its article, at most ``MAX_QUOTES``. A quote repeated by another copy of
    the same story (its near-duplicate cluster) is listed once, with the newest copy; the
    other copies are in its ``copies``."""
    wanted = set(names)
    quotes: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for hit in hits:
        source = hit.get("_source", {})
        article = {
            "id": hit["_id"],
            "title": source.get("title"),
            "published_at": source.get("published_at"),
            "source": source.get("source"),
        }
        cluster = str((source.get("duplicates") or {}).get("cluster_id") or hit["_id"])
        own = [q for q in source.get("quotes") or [] if q.get("speaker") in wanted]
        for quote in sorted(own, key=lambda q: int(q.get("start") or 0)):
            key = (cluster, _quote_key(quote.get("text")))
            if key in seen:
                if article not in seen[key]["copies"]:
                    seen[key]["copies"].append(article)
                continue
            seen[key] = {"copies": []}
            quotes.append(
                {
                    "text": quote.get("text"),
                    "speaker": quote.get("speaker"),
                    "speaker_mention": quote.get("speaker_mention"),
                    "verb": quote.get("verb"),
                    "part": quote.get("part"),
                    "parts": quote.get("parts"),
                    "article": article,
                    # The same quote in the other copies of this story.
                    "copies": seen[key]["copies"],
                }
            )
    return quotes[:MAX_QUOTES]


def shape_story(hit: Mapping[str, Any]) -> SearchHit:
    """A listed story, as a search hit; collapsed (``build_profile_body``), with ``copies``
    (the size of its near-duplicate group, itself included) and ``copy_sources`` (how many
    distinct sources the group has), as the search page counts them."""
    story = shape_hit(hit)
    copies = (hit.get("inner_hits") or {}).get("copies")
    if copies is not None:
        story["copies"] = int(copies["hits"]["total"]["value"])
        story["copy_sources"] = len(copies["hits"]["hits"])
    return story


def _is_place(place: Mapping[str, Any], name: str) -> bool:
    """Is this stored place the one of the page: its GeoNames id, or a name it has or was
    written as in the article."""
    if name.isdigit():
        return str(place.get("geonameid")) == name
    return place.get("name") == name or name in (place.get("mentioned_as") or ())


def shape_locations(hits: Iterable[Mapping[str, Any]], name: str) -> list[dict[str, Any]]:
    """Where a place name points in these stories: one entry per gazetteer place (a name can
    be two places: Springfield, Illinois and Springfield, Missouri), the most stories first.
    Places are not nested in the index, so this reads the stories' sources, not an
    aggregation: it covers the stories listed. ``name`` may be a GeoNames id: then it is one
    place, named as its newest story names it (hits come newest first)."""
    found: dict[tuple[Any, ...], dict[str, Any]] = {}
    for hit in hits:
        for place in hit.get("_source", {}).get("places") or []:
            if not _is_place(place, name):
                continue
            location = place.get("location") or {}
            key = (place.get("geonameid"), location.get("lat"), location.get("lon"))
            entry = found.setdefault(
                key,
                {
                    "geonameid": place.get("geonameid"),
                    "name": place.get("name"),
                    "kind": place.get("kind"),
                    "country": place.get("country"),
                    "country_code": place.get("country_code"),
                    "location": place.get("location"),
                    "mentioned_as": [],
                    "stories": 0,
                },
            )
            entry["stories"] += 1
            for written in place.get("mentioned_as") or []:
                if written not in entry["mentioned_as"]:
                    entry["mentioned_as"].append(written)
    return sorted(found.values(), key=lambda entry: -int(entry["stories"]))


def _counts(aggregation: Mapping[str, Any]) -> list[dict[str, Any]]:
    counts = []
    for bucket in aggregation.get("buckets", []):
        if "label" in bucket:  # a place: its id, with its name
            key = str(bucket["key"])
            item = {"name": place_label(bucket) or key, "geonameid": key}
        else:
            item = {"name": bucket["key"]}
        counts.append({**item, "count": bucket["doc_count"]})
    return counts


def shape_profile(
    kind: str,
    name: str,
    response: Mapping[str, Any],
    *,
    merged: Sequence[Mapping[str, Any]] = (),
    longer: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The API's answer from the profile request's response (``build_profile_body``)."""
    aggregations = response.get("aggregations", {})
    hits = response["hits"]["hits"]
    names = [name, *(variant["name"] for variant in merged)]
    timeline = rollup_timeline(aggregations.get("days", {}).get("buckets", []))
    days = [b["key_as_string"] for b in aggregations.get("days", {}).get("buckets", [])]
    profile: dict[str, Any] = {
        "kind": kind,
        "name": name,
        "total": response["hits"]["total"]["value"],
        # Near-duplicate clusters among them: each is listed once.
        "stories_total": aggregations.get("stories", {}).get("value"),
        "first_published": days[0] if days else None,
        "last_published": days[-1] if days else None,
        "also_written_as": [dict(variant) for variant in merged],
        # The search page's filter for the same stories: the search links use it.
        "search": {KINDS[kind]: names},
        "timeline": timeline,
        "stories": [shape_story(hit) for hit in hits],
        "cooccurring": {
            other: _counts(aggregations.get(f"with_{other}", {}))
            for other in ("people", "organisations", "places")
        },
    }
    if kind == "person":
        by_speaker = aggregations.get("quote_count", {}).get("by_speaker", {})
        quoted = aggregations.get("quoted", {}).get("newest", {}).get("hits", {})
        profile["longer_names"] = [dict(item) for item in longer]
        profile["quotes"] = {
            "total": by_speaker.get("doc_count", 0),
            "articles": by_speaker.get("articles", {}).get("doc_count", 0),
            # The articles' near-duplicate clusters: copies of one story count once.
            "stories": by_speaker.get("articles", {}).get("stories", {}).get("value"),
            "items": shape_quotes(quoted.get("hits", []), names),
        }
    if kind == "place":
        profile["locations"] = shape_locations(hits, name)
        # The place itself is no companion of its own (a name page cannot exclude its ids
        # in the request: they are known only from the stories).
        own = {str(where["geonameid"]) for where in profile["locations"]}
        profile["cooccurring"]["places"] = [
            other for other in profile["cooccurring"]["places"] if other.get("geonameid") not in own
        ]
        if name.isdigit():
            profile["geonameid"] = name
            labels = [loc["name"] for loc in profile["locations"] if loc.get("name")]
            profile["name"] = labels[0] if labels else name
    return profile


def entity_profile(
    es: Elasticsearch,
    alias: str,
    kind: str,
    name: str,
    *,
    size: int = STORIES,
    group_copies: bool = True,
) -> dict[str, Any] | None:
    """The profile of the entity ``name`` of ``kind`` (a key of ``KINDS``), or None when no
    article names it. ``size``: how many of the newest stories to list; ``group_copies``:
    one entry per near-duplicate cluster (False: every copy)."""
    merged: list[dict[str, Any]] = []
    longer: list[dict[str, Any]] = []
    if kind == "person":
        variants = es.search(index=alias, **_SEARCH_OPTIONS, **build_variants_body(name))
        indexed = indexed_names(variants.get("aggregations", {}))
        merged = merge_variants(name, indexed)
        longer = longer_names(name, indexed)
    names = [name, *(variant["name"] for variant in merged)]
    body = build_profile_body(kind, names, size, group_copies=group_copies)
    response = es.search(index=alias, **_SEARCH_OPTIONS, **body)
    if response["hits"]["total"]["value"] == 0:
        return None
    return shape_profile(kind, name, response.body, merged=merged, longer=longer)
