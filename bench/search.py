"""Search and autocomplete latency on a bench index, for a realistic query mix.

Two paths, both measured, one query at a time after a warm-up:

- **HTTP** (the headline ``search_p50_ms``/``search_p99_ms``): ``GET /api/search`` and
  ``/api/suggest`` on the web service run by gunicorn as scripts/run.sh runs it: what a user or
  API client waits for, Flask, the query embedding and the JSON included.
- **in-process**: ``web.params.parse_search_request`` (the views' request builder) and
  ``web.search.search_articles`` with the web's own ``embed_query``, called directly: the same
  code without HTTP, to tell the service's overhead from Elasticsearch's time.

Caches are explicit. Every run draws its queries with a fresh seed (``query_seed`` in the
result) from a pool of at least ``POOL`` distinct queries (``query_pool``: words, phrases,
facets, dates, pages, and the long tail: rare words, misspellings, queries nothing matches);
warm-up, HTTP and in-process queries are disjoint slices of it, and pools leave out every query
the process sent before (``SENT``: earlier rounds, the other index), so no query of a run
repeats an earlier one. Each HTTP query is sent twice in a row after Elasticsearch's request
cache is cleared (``_cache/clear?request=true``, not timed): the first answer is the
**uncached** figure (the headline), the second the **cached** one (``search_cached_*``:
facet counts from the request cache, the query vector from the web's cache, the index's pages
read just before).

The baseline is a bare ``match_all`` (size 10) sent to the same index from the same process:
``search_p50_ms / baseline`` is what the search itself costs over a round trip.
"""

from __future__ import annotations

import itertools
import random
import re
import secrets
import time
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from typing import Any
from urllib.parse import urlencode

from bench.generate import synthetic_word, words_of
from bench.load import connect, percentile, timed_requests
from shared.clients import get_elasticsearch
from shared.settings import Settings

# Share of each kind of query in the mix (sums to 1).
MIX = {
    "words": 0.20,  # one or two words from a title (hybrid: the default mode)
    "phrase": 0.10,  # a quoted two-word phrase from a title
    "entity_facet": 0.12,  # a person's name, filtered by a place facet
    "words_dates": 0.08,  # words within a year (from/to)
    "keyword_mode": 0.08,  # words, mode=keyword (BM25 only)
    "browse_facet": 0.08,  # no text, one source, one month: the newest first
    "sentence": 0.08,  # five words of a title, as someone describes a story (hybrid)
    "page_two": 0.04,  # words, page 2
    "rare": 0.08,  # a word of the long tail: in one corpus article only, or a rare generated one
    "misspelled": 0.08,  # a title word with one letter dropped, doubled, swapped or changed
    "zero_result": 0.06,  # words no document holds, keyword mode: nothing can match
}
# Distinct queries a run draws from (warm-up, HTTP and in-process take disjoint slices).
POOL = 10_000
_WORD = re.compile(r"^[A-Za-z][a-z]{4,}$")
_STOP = frozenset(
    [
        "about",
        "after",
        "again",
        "against",
        "before",
        "being",
        "below",
        "between",
        "could",
        "during",
        "their",
        "there",
        "these",
        "those",
        "through",
        "under",
        "until",
        "where",
        "which",
        "while",
        "would",
        "should",
        "other",
        "first",
        "years",
        "people",
    ]
)


def _title_words(title: str) -> list[str]:
    return [w for w in re.findall(r"[A-Za-z]+", title) if _WORD.match(w) and w.lower() not in _STOP]


def misspell(word: str, rng: random.Random) -> str:
    """``word`` with one typing error: a letter dropped, doubled, swapped with the next, or
    changed (never the first letter: people get that one right)."""
    at = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        return word[:at] + word[at + 1 :]
    if kind == 1:
        return word[:at] + word[at] + word[at:]
    if kind == 2:
        return word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    letters = [c for c in "abcdefghijklmnopqrstuvwxyz" if c != word[at].lower()]
    return word[:at] + rng.choice(letters) + word[at + 1 :]


def rare_words(docs: Sequence[dict[str, Any]]) -> list[str]:
    """Words of five letters or more found in one corpus article only (the long tail)."""
    seen: Counter[str] = Counter()
    for doc in docs:
        seen.update(set(words_of(doc.get("body") or "")))
    return sorted(w for w, n in seen.items() if n == 1 and len(w) >= 5)


def _nonsense(rng: random.Random) -> str:
    """Two letter strings no vocabulary holds (``synthetic_word``'s syllables never put two
    consonants together; these do)."""
    return " ".join(
        "".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(rng.randint(6, 9)))
        for _ in range(2)
    )


def query_mix(docs: Sequence[dict[str, Any]], count: int, seed: int = 6) -> list[dict[str, Any]]:
    """``count`` search parameter sets (as /api/search takes them), drawn with ``seed`` from
    the enriched corpus's titles, people, places and sources (repeats possible: see
    ``query_pool`` for distinct ones)."""
    return list(itertools.islice(_draws(docs, seed), count))


def _draws(docs: Sequence[dict[str, Any]], seed: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    kinds = list(MIX)
    weights = [MIX[k] for k in kinds]
    with_title = [d for d in docs if len(_title_words(d.get("title") or "")) >= 2]
    with_people = [d for d in docs if d.get("people") and d.get("places")] or with_title
    sources = sorted({d["source"] for d in docs if d.get("source")})
    tail = rare_words(docs) or [w.lower() for d in with_title for w in _title_words(d["title"])]
    while True:
        kind = rng.choices(kinds, weights)[0]
        doc = rng.choice(with_title)
        words = _title_words(doc["title"])
        params: dict[str, Any]
        if kind in ("words", "keyword_mode", "words_dates", "page_two"):
            params = {"q": " ".join(rng.sample(words, rng.choice((1, 2))))}
            if kind == "keyword_mode":
                params["mode"] = "keyword"
            elif kind == "words_dates":
                year = rng.randrange(2013, 2026)
                params |= {"from": f"{year}-01-01", "to": f"{year}-12-31"}
            elif kind == "page_two":
                params |= {"q": rng.choice(words), "page": 2}
        elif kind == "phrase":
            plain = re.findall(r"[A-Za-z]+", doc["title"])
            at = rng.randrange(max(1, len(plain) - 1))
            params = {"q": f'"{" ".join(plain[at : at + 2])}"'}
        elif kind == "entity_facet":
            chosen = rng.choice(with_people)
            params = {"q": rng.choice(chosen.get("people") or words)}
            if chosen.get("places"):
                params["places"] = rng.choice(chosen["places"])["name"]
        elif kind == "browse_facet":
            year, month = rng.randrange(2013, 2026), rng.randrange(1, 13)
            params = {
                "source": rng.choice(sources),
                "from": f"{year}-{month:02d}-01",
                "to": f"{year}-{month:02d}-28",
            }
        elif kind == "rare":
            # Half corpus hapaxes, half generated words of the Zipf tail (bench.generate).
            word = (
                rng.choice(tail)
                if rng.random() < 0.5
                else synthetic_word(rng.randrange(20_000, 400_000))
            )
            params = {"q": word}
        elif kind == "misspelled":
            params = {"q": misspell(rng.choice(words), rng)}
        elif kind == "zero_result":
            params = {"q": _nonsense(rng), "mode": "keyword"}
        else:  # sentence
            plain = re.findall(r"[A-Za-z]+", doc["title"])
            at = rng.randrange(max(1, len(plain) - 4))
            params = {"q": " ".join(plain[at : at + 5]).lower()}
        params["_kind"] = kind
        yield params


def query_key(params: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """What makes two queries the same request (the parameters sent)."""
    return tuple(sorted((k, str(v)) for k, v in params.items() if not k.startswith("_")))


# Every query this process has sent in a measurement (search rounds of every index, the
# open-loop phase): pools leave them out, so no query of a run repeats an earlier one of it.
SENT: set[tuple[tuple[str, str], ...]] = set()


def query_pool(
    docs: Sequence[dict[str, Any]],
    count: int,
    seed: int,
    exclude: Collection[tuple[tuple[str, str], ...]] = (),
) -> list[dict[str, Any]]:
    """``count`` distinct queries of the mix, none of them in ``exclude`` (fewer only if the
    corpus cannot give that many: it stops after ``20 * count`` draws)."""
    pool: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
    for params in itertools.islice(_draws(docs, seed), 20 * count):
        key = query_key(params)
        if key not in exclude:
            pool.setdefault(key, params)
        if len(pool) == count:
            break
    return list(pool.values())


def prefixes(docs: Sequence[dict[str, Any]], count: int, seed: int = 7) -> list[str]:
    """What people type into the search box: the first 2 to 7 letters of a person, place,
    organisation or title word; distinct ones first (repeats only once the names run out)."""
    rng = random.Random(seed)
    names: list[str] = []
    for doc in docs:
        names += doc.get("people") or []
        names += doc.get("organisations") or []
        names += [p["name"] for p in doc.get("places") or []]
        names += _title_words(doc.get("title") or "")
    names = [n for n in names if len(n) >= 3]
    distinct: dict[str, None] = {}
    for _ in range(20 * count):
        name = rng.choice(names)
        distinct.setdefault(name[: rng.randint(2, min(7, len(name)))], None)
        if len(distinct) == count:
            break
    chosen = list(distinct)
    while len(chosen) < count:
        name = rng.choice(names)
        chosen.append(name[: rng.randint(2, min(7, len(name)))])
    return chosen


def search_path(params: dict[str, Any]) -> str:
    return "/api/search?" + urlencode({k: v for k, v in params.items() if not k.startswith("_")})


def _stats(latencies: Sequence[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(latencies, 50), 2),
        "p90_ms": round(percentile(latencies, 90), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "mean_ms": round(sum(latencies) / max(1, len(latencies)), 2),
        "count": len(latencies),
    }


def baseline_match_all(settings: Settings, count: int, warm_up: int) -> list[float]:
    """A bare ``match_all`` (size 10) on the same index, same process: the round-trip floor."""
    es = get_elasticsearch(settings)
    latencies: list[float] = []
    for number in range(warm_up + count):
        started = time.perf_counter()
        es.search(index=settings.articles_alias, query={"match_all": {}}, size=10)
        if number >= warm_up:
            latencies.append(1000 * (time.perf_counter() - started))
    return latencies


def in_process(
    settings: Settings,
    queries: Sequence[dict[str, Any]],
    warm_up: Sequence[dict[str, Any]],
    zero_hits: Counter[str] | None = None,
) -> tuple[list[float], Counter[str]]:
    """The views' request builder and ``search_articles`` called directly (no HTTP), the
    ``warm_up`` queries first, not timed; ``zero_hits`` counts, by kind, the measured queries
    that found nothing."""
    from werkzeug.datastructures import MultiDict

    from web.backend import embed_query
    from web.params import parse_search_request
    from web.search import search_articles

    es = get_elasticsearch(settings)
    latencies: list[float] = []
    modes: Counter[str] = Counter()
    for number, params in enumerate([*warm_up, *queries]):
        args = MultiDict({k: str(v) for k, v in params.items() if not k.startswith("_")})
        started = time.perf_counter()
        request = parse_search_request(args, settings.web_page_size)
        result = search_articles(es, settings.articles_alias, request, embed_query)
        if number >= len(warm_up):
            latencies.append(1000 * (time.perf_counter() - started))
            modes[result["mode"]] += 1
            if zero_hits is not None and not result["total"]:
                zero_hits[str(params.get("_kind"))] += 1
    return latencies, modes


def clear_request_cache(settings: Settings) -> None:
    """Empty Elasticsearch's shard request cache for the index (``_cache/clear?request=true``)."""
    get_elasticsearch(settings).indices.clear_cache(index=settings.articles_alias, request=True)


def uncached_then_cached(
    settings: Settings, web_url: str, paths: Sequence[str]
) -> tuple[list[float], list[float], list[int]]:
    """Each path twice in a row on one kept-alive connection, the request cache cleared (not
    timed) before the first: (first latencies, second latencies, statuses of both)."""
    connection = connect(web_url)
    first: list[float] = []
    second: list[float] = []
    statuses: list[int] = []
    for path in paths:
        clear_request_cache(settings)
        for into in (first, second):
            sent = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            into.append(1000 * (time.perf_counter() - sent))
            statuses.append(response.status)
            if response.getheader("Connection", "").lower() == "close":
                connection.close()  # the next request opens it again
    connection.close()
    return first, second, statuses


def measure_search(
    settings: Settings,
    web_url: str,
    docs: Sequence[dict[str, Any]],
    *,
    queries: int,
    suggestions: int,
    warm_up: int = 50,
    seed: int | None = None,
) -> dict[str, Any]:
    """Search and autocomplete latencies (see the module's doc); ``seed`` None draws a fresh
    one (recorded as ``query_seed``)."""
    seed = secrets.randbits(31) if seed is None else seed
    pool = query_pool(docs, max(POOL, warm_up + 2 * queries), seed, exclude=SENT)
    if len(pool) < warm_up + 2 * queries:
        raise RuntimeError(f"only {len(pool)} distinct queries for {warm_up + 2 * queries}")
    warm, mix, local = pool[:warm_up], pool[warm_up : warm_up + queries], pool[warm_up + queries :]
    local = local[:queries]
    SENT.update(query_key(params) for params in [*warm, *mix, *local])
    paths = [search_path(params) for params in mix]
    _, warm_statuses = timed_requests(web_url, [search_path(p) for p in warm])
    http_latencies, cached_latencies, statuses = uncached_then_cached(settings, web_url, paths)
    bad = [status for status in [*warm_statuses, *statuses] if status != 200]
    if bad:
        raise RuntimeError(f"/api/search answered {Counter(bad)} during the benchmark")
    by_kind: dict[str, list[float]] = {}
    by_kind_cached: dict[str, list[float]] = {}
    for params, latency, again in zip(mix, http_latencies, cached_latencies, strict=True):
        by_kind.setdefault(params["_kind"], []).append(latency)
        by_kind_cached.setdefault(params["_kind"], []).append(again)
    # The in-process pass has queries of its own (neither warm-up nor HTTP ones), the request
    # cache cleared once before them.
    clear_request_cache(settings)
    zero: Counter[str] = Counter()
    local_latencies, modes = in_process(settings, local, [], zero_hits=zero)
    baseline = baseline_match_all(settings, queries, warm_up)
    typed = prefixes(docs, suggestions + warm_up, seed=seed + 1)
    suggest_paths = ["/api/suggest?" + urlencode({"q": p, "size": 8}) for p in typed]
    # The warm-up prefixes come last in the list, first in the requests.
    suggest_latencies, suggest_statuses = timed_requests(
        web_url, suggest_paths[suggestions:] + suggest_paths[:suggestions], warm_up=warm_up
    )
    if any(status != 200 for status in suggest_statuses):
        raise RuntimeError(f"/api/suggest answered {Counter(suggest_statuses)}")
    uncached = _stats(http_latencies)
    cached = _stats(cached_latencies)
    base = _stats(baseline)
    kinds_local = Counter(str(p["_kind"]) for p in local)
    return {
        "search_p50_ms": uncached["p50_ms"],
        "search_p99_ms": uncached["p99_ms"],
        "search_cached_p50_ms": cached["p50_ms"],
        "search_cached_p99_ms": cached["p99_ms"],
        "autocomplete_p50_ms": round(percentile(suggest_latencies, 50), 2),
        "autocomplete_p99_ms": round(percentile(suggest_latencies, 99), 2),
        "http": uncached,
        "http_cached": cached,
        "in_process": _stats(local_latencies),
        "baseline_match_all": base,
        "search_p50_over_baseline": round(uncached["p50_ms"] / base["p50_ms"], 1),
        "by_kind_http": {kind: _stats(values) for kind, values in sorted(by_kind.items())},
        "by_kind_http_cached": {
            kind: _stats(values) for kind, values in sorted(by_kind_cached.items())
        },
        # Share of each kind's in-process queries that found nothing.
        "zero_hit_share_by_kind": {
            kind: round(zero[kind] / n, 3) for kind, n in sorted(kinds_local.items())
        },
        "modes": dict(modes),
        "query_seed": seed,
        "queries": len(mix),
        "distinct_queries_pool": len(pool),
        "queries_sent_once": warm_up + 2 * queries,
        "warm_up_queries": len(warm),
        "cache": "uncached = request cache cleared before the query; cached = the same query "
        "again right after (request cache, the web's query-vector cache, pages just read)",
        "distinct_prefixes": len(set(typed)),
        "mix": MIX,
        "examples": [search_path(params) for params in mix[:12]],
        "latencies_ms": [round(x, 2) for x in http_latencies],
        "cached_latencies_ms": [round(x, 2) for x in cached_latencies],
    }
