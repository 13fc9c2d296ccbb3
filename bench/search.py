"""Search and autocomplete latency on a bench index, for a fixed, realistic query mix.

Two paths, both measured, one query at a time after a warm-up:

- **HTTP** (the headline ``search_p50_ms``/``search_p99_ms``): ``GET /api/search`` and
  ``/api/suggest`` on the web service run by gunicorn as scripts/run.sh runs it: what a user or
  API client waits for, Flask, the query embedding and the JSON included.
- **in-process**: ``web.params.parse_search_request`` (the views' request builder) and
  ``web.search.search_articles`` with the web's own ``embed_query``, called directly: the same
  code without HTTP, to tell the service's overhead from Elasticsearch's time.

The baseline is a bare ``match_all`` (size 10) sent to the same index from the same process:
``search_p50_ms / baseline`` is what the search itself costs over a round trip.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from bench.load import percentile, timed_requests
from shared.clients import get_elasticsearch
from shared.settings import Settings

# Share of each kind of query in the mix (sums to 1).
MIX = {
    "words": 0.25,  # one or two words from a title (hybrid: the default mode)
    "phrase": 0.15,  # a quoted two-word phrase from a title
    "entity_facet": 0.15,  # a person's name, filtered by a place facet
    "words_dates": 0.10,  # words within a year (from/to)
    "keyword_mode": 0.10,  # words, mode=keyword (BM25 only)
    "browse_facet": 0.10,  # no text, one source: the newest first
    "sentence": 0.10,  # five words of a title, as someone describes a story (hybrid)
    "page_two": 0.05,  # words, page 2
}
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


def query_mix(docs: Sequence[dict[str, Any]], count: int, seed: int = 6) -> list[dict[str, Any]]:
    """``count`` search parameter sets (as /api/search takes them), drawn with a fixed seed
    from the enriched corpus's titles, people, places and sources."""
    rng = random.Random(seed)
    kinds = list(MIX)
    weights = [MIX[k] for k in kinds]
    with_title = [d for d in docs if len(_title_words(d.get("title") or "")) >= 2]
    with_people = [d for d in docs if d.get("people") and d.get("places")]
    sources = sorted({d["source"] for d in docs if d.get("source")})
    queries: list[dict[str, Any]] = []
    while len(queries) < count:
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
                params |= {"q": words[0], "page": 2}
        elif kind == "phrase":
            plain = re.findall(r"[A-Za-z]+", doc["title"])
            at = rng.randrange(max(1, len(plain) - 1))
            params = {"q": f'"{" ".join(plain[at : at + 2])}"'}
        elif kind == "entity_facet":
            chosen = rng.choice(with_people)
            params = {
                "q": rng.choice(chosen["people"]),
                "places": rng.choice(chosen["places"])["name"],
            }
        elif kind == "browse_facet":
            params = {"source": rng.choice(sources)}
        else:  # sentence
            plain = re.findall(r"[A-Za-z]+", doc["title"])
            params = {"q": " ".join(plain[:5]).lower()}
        params["_kind"] = kind
        queries.append(params)
    return queries


def prefixes(docs: Sequence[dict[str, Any]], count: int, seed: int = 7) -> list[str]:
    """What people type into the search box: the first 2 to 7 letters of a person, place,
    organisation or title word."""
    rng = random.Random(seed)
    names: list[str] = []
    for doc in docs:
        names += doc.get("people") or []
        names += doc.get("organisations") or []
        names += [p["name"] for p in doc.get("places") or []]
        names += _title_words(doc.get("title") or "")
    names = [n for n in names if len(n) >= 3]
    return [(name := rng.choice(names))[: rng.randint(2, min(7, len(name)))] for _ in range(count)]


def _path(params: dict[str, Any]) -> str:
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
    settings: Settings, queries: Sequence[dict[str, Any]], warm_up: Sequence[dict[str, Any]]
) -> tuple[list[float], Counter[str]]:
    """The views' request builder and ``search_articles`` called directly (no HTTP), the
    ``warm_up`` queries first, not timed."""
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
    return latencies, modes


def measure_search(
    settings: Settings,
    web_url: str,
    docs: Sequence[dict[str, Any]],
    *,
    queries: int,
    suggestions: int,
    warm_up: int = 50,
) -> dict[str, Any]:
    mix = query_mix(docs, queries)
    paths = [_path(params) for params in mix]
    warm_paths = [_path(params) for params in query_mix(docs, warm_up, seed=60)]
    http_latencies, statuses = timed_requests(web_url, warm_paths + paths, warm_up=warm_up)
    bad = [status for status in statuses if status != 200]
    if bad:
        raise RuntimeError(f"/api/search answered {Counter(bad)} during the benchmark")
    by_kind: dict[str, list[float]] = {}
    for params, latency in zip(mix, http_latencies, strict=True):
        by_kind.setdefault(params["_kind"], []).append(latency)
    # Warm-up queries are never measured queries, and the in-process pass has its own: the same
    # ones again would find Elasticsearch's request cache holding their facet counts.
    local, modes = in_process(
        settings, query_mix(docs, queries, seed=61), query_mix(docs, warm_up, seed=62)
    )
    baseline = baseline_match_all(settings, queries, warm_up)
    typed = prefixes(docs, suggestions + warm_up)
    suggest_paths = ["/api/suggest?" + urlencode({"q": p, "size": 8}) for p in typed]
    # The warm-up prefixes come last in the list, first in the requests.
    suggest_latencies, suggest_statuses = timed_requests(
        web_url, suggest_paths[suggestions:] + suggest_paths[:suggestions], warm_up=warm_up
    )
    if any(status != 200 for status in suggest_statuses):
        raise RuntimeError(f"/api/suggest answered {Counter(suggest_statuses)}")
    http = _stats(http_latencies)
    base = _stats(baseline)
    return {
        "search_p50_ms": http["p50_ms"],
        "search_p99_ms": http["p99_ms"],
        "autocomplete_p50_ms": round(percentile(suggest_latencies, 50), 2),
        "autocomplete_p99_ms": round(percentile(suggest_latencies, 99), 2),
        "http": http,
        "in_process": _stats(local),
        "baseline_match_all": base,
        "search_p50_over_baseline": round(http["p50_ms"] / base["p50_ms"], 1),
        "by_kind_http": {kind: _stats(values) for kind, values in sorted(by_kind.items())},
        "modes": dict(modes),
        "autocomplete": _stats(suggest_latencies),
        "queries": len(mix),
        "mix": MIX,
        "examples": [_path(params) for params in mix[:8]],
        "latencies_ms": [round(x, 2) for x in http_latencies],
    }
