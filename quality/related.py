"""Related stories against human judgements and topic labels, beside a TF-IDF cosine baseline
computed in the same run on the same documents.

    python -m quality related [--tune] [--split tune|test|both]

Data (fetched into the quality cache, never committed):

- **Lee**: gensim 4.3.3's wheel, ``gensim/test/test_data/lee.cor`` (50 ABC news stories),
  ``similarities0-1.txt`` (their 50 x 50 human similarity matrix, Lee, Pincombe & Welsh 2005)
  and ``lee_background.cor`` (300 more stories, distractors). All 350 are enriched by the
  worker's own pipeline (``worker.pipeline.process_batch``: every step, near-duplicate
  clusters, bulk indexing) into an index of their own (``quality-related-lee-*``). For each of
  the 50, the related stories are ranked and nDCG@10 is computed with the human similarities
  of the other 49 as gains (a background story gains 0; the story itself is left out).
- **Topics**: Debian r-cran-tm 0.7-11-1, ``texts/acq`` (50 Reuters-21578 stories filed under
  acquisitions) and ``texts/crude`` (20 under crude oil), indexed the same way with their
  titles and dates (``quality-related-tm-*``); the share of the first five related stories
  in the story's own directory (its topic).

What is scored is what the article page lists: "the same story elsewhere" (its near-duplicate
cluster) first, then the related stories, cut at 10 (or 5). The related list alone is
reported too. The baseline ranks all other documents of the same set by the cosine of their
TF-IDF vectors (hand-written below: scikit-learn is not a dependency of the project; its
defaults are used: raw counts, idf = ln((1 + n) / (1 + df)) + 1, L2 norm), cut the same way.

Held-out discipline: each set is split in two halves by a rule fixed before any result was
seen: the stories sorted by the sha1 hex digest of their key ("lee.cor:<line>", numbered from
1; "tm:<dir>/<file>"), the first half is ``tune``, the rest ``test``. Weights
(web.related.WEIGHTS) were chosen on the tune halves only (``--tune`` prints the grid, tune
half only); the test halves were computed once, at the end.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import html
import json
import math
import re
import sys
import time
import zipfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from quality import heldout
from quality.sources import _deb, _deb_members
from shared.article import ArticlePayload

TM = ("r-cran-tm", "0.7-11-1")
TM_DIRS = ("acq", "crude")
RECEIVED_AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BATCH = 25
CUT = 10
TOPIC_CUT = 5


@dataclass(frozen=True)
class Doc:
    key: str
    title: str | None
    body: str
    published_at: datetime | None = None
    topic: str | None = None


def _sha1(text: str) -> str:
    # A split key, not security.
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def split(keys: Sequence[str]) -> dict[str, list[str]]:
    """The fixed rule: sorted by sha1 of the key, the first half tunes, the rest tests."""
    ordered = sorted(keys, key=_sha1)
    half = len(ordered) // 2
    return {"tune": ordered[:half], "test": ordered[half:]}


# --- data -----------------------------------------------------------------------------------


def lee() -> tuple[list[Doc], list[list[float]]]:
    """The 350 Lee stories (the 50 judged first, keyed "lee.cor:<n>") and the 50 x 50
    similarity matrix."""
    with zipfile.ZipFile(heldout.wheel_path()) as wheel:

        def read(name: str) -> str:
            return heldout._decode(wheel.read(f"gensim/test/test_data/{name}"))

        docs = []
        for name in ("lee.cor", "lee_background.cor"):
            for number, line in enumerate(read(name).splitlines(), start=1):
                if line.strip():
                    docs.append(Doc(f"{name}:{number}", None, line.strip()))
        matrix = [
            [float(x) for x in row.split()]
            for row in read("similarities0-1.txt").splitlines()
            if row.strip()
        ]
    judged = [d for d in docs if d.key.startswith("lee.cor:")]
    if len(judged) != 50 or len(matrix) != 50 or any(len(row) != 50 for row in matrix):
        raise ValueError("expected 50 judged stories and a 50 x 50 matrix")
    return docs, matrix


def _tag(text: str, name: str) -> str | None:
    found = re.search(rf"<{name}>(.*?)</{name}>", text, re.S)
    return html.unescape(found.group(1)).strip() if found else None


def topics() -> list[Doc]:
    """The r-cran-tm Reuters stories, topic = their directory (acq, crude)."""
    deb = _deb(*TM)
    wanted = tuple(f"usr/lib/R/site-library/tm/texts/{d}/" for d in TM_DIRS)
    members = _deb_members(deb, lambda name: name.startswith(wanted) and name.endswith(".xml"))
    docs = []
    for name, data in sorted(members.items()):
        text = data.decode("utf-8", errors="replace")
        directory = name.split("/")[-2]
        body = _tag(text, "BODY") or ""
        body = re.sub(r"\s*Reuter\s*$", "", body)
        when = _tag(text, "DATE")
        published = None
        if when:
            published = datetime.strptime(when.split(".")[0], "%d-%b-%Y %H:%M:%S").replace(
                tzinfo=UTC
            )
        docs.append(
            Doc(
                f"tm:{directory}/{name.split('/')[-1]}",
                _tag(text, "TITLE"),
                body,
                published,
                directory,
            )
        )
    return docs


# --- indexing -------------------------------------------------------------------------------


def _payloads(docs: Sequence[Doc]) -> list[ArticlePayload]:
    from shared.schema import ArticleIn, to_payload

    return [
        to_payload(
            ArticleIn(body=d.body, title=d.title, published_at=d.published_at),
            content_type="text/plain",
            received_at=RECEIVED_AT,
        )
        for d in docs
    ]


def build_index(name: str, docs: Sequence[Doc]) -> tuple[Any, str, dict[str, str]]:
    """Index ``docs`` through the worker's pipeline into ``quality-related-<name>`` (kept and
    reused when it already holds them all). Returns (es, alias, key by article id)."""
    from shared.clients import get_elasticsearch, get_redis
    from shared.settings import Settings
    from worker.pipeline import process_batch

    settings = Settings(index_prefix=f"quality-related-{name}")
    es = get_elasticsearch(settings)
    redis_client = get_redis(settings)
    payloads = _payloads(docs)
    key_of = {p["id"]: d.key for p, d in zip(payloads, docs, strict=True)}
    alias = settings.articles_alias
    present: set[str] = set()
    if es.indices.exists_alias(name=alias):
        es.indices.refresh(index=alias)
        found = es.search(
            index=alias, query={"ids": {"values": list(key_of)}}, size=len(key_of), source=False
        )
        present = {hit["_id"] for hit in found["hits"]["hits"]}
    missing = [p for p in payloads if p["id"] not in present]
    for start in range(0, len(missing), BATCH):
        outcome = process_batch(
            missing[start : start + BATCH], es=es, redis_client=redis_client, settings=settings
        )
        if outcome.dead_lettered or outcome.retry_later:
            raise RuntimeError(f"not indexed: {outcome.dead_lettered or outcome.retry_later}")
        print(
            f"{name}: {start + len(missing[start : start + BATCH])}/{len(missing)}", file=sys.stderr
        )
    es.indices.refresh(index=alias)
    return es, alias, key_of


# --- the baseline -----------------------------------------------------------------------------

_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token pattern


def tfidf_neighbours(texts: Mapping[str, str]) -> dict[str, list[str]]:
    """For every document, all others by TF-IDF cosine, best first (ties by key)."""
    counts = {key: Counter(_TOKEN.findall(text.lower())) for key, text in texts.items()}
    df: Counter[str] = Counter()
    for c in counts.values():
        df.update(c.keys())
    n = len(counts)
    idf = {term: math.log((1 + n) / (1 + d)) + 1 for term, d in df.items()}
    vectors: dict[str, dict[str, float]] = {}
    for key, c in counts.items():
        vector = {term: tf * idf[term] for term, tf in c.items()}
        norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
        vectors[key] = {term: v / norm for term, v in vector.items()}
    out: dict[str, list[str]] = {}
    for key, vector in vectors.items():
        scores = {
            other: sum(w * ov.get(t, 0.0) for t, w in vector.items())
            for other, ov in vectors.items()
            if other != key
        }
        out[key] = sorted(scores, key=lambda other: (-scores[other], other))
    return out


# --- scoring ----------------------------------------------------------------------------------


def ndcg(ranked: Sequence[str], gains: Mapping[str, float], cut: int = CUT) -> float:
    """nDCG@cut with graded gains (keys absent gain 0), log2 discount."""
    dcg = sum(gains.get(key, 0.0) / math.log2(rank + 2) for rank, key in enumerate(ranked[:cut]))
    ideal = sorted(gains.values(), reverse=True)[:cut]
    best = sum(g / math.log2(rank + 2) for rank, g in enumerate(ideal))
    return dcg / best if best else 0.0


def precision(ranked: Sequence[str], relevant: Iterable[str], cut: int = TOPIC_CUT) -> float:
    wanted = set(relevant)
    top = list(ranked[:cut])
    return sum(1 for key in top if key in wanted) / cut


@dataclass
class Listing:
    same_story: list[str]
    related: list[str]

    def page(self) -> list[str]:
        return self.same_story + self.related


def run_related(
    es: Any,
    alias: str,
    key_of: Mapping[str, str],
    keys: Sequence[str],
    size: int,
    weights: Any,
    within: Sequence[str] | None = None,
) -> tuple[dict[str, Listing], list[float]]:
    from web.related import find_related
    from web.search import get_article

    id_of = {key: article_id for article_id, key in key_of.items()}
    listings: dict[str, Listing] = {}
    seconds = []
    for key in keys:
        article = get_article(es, alias, id_of[key])
        if article is None:
            raise RuntimeError(f"{key} is not indexed")
        started = time.perf_counter()
        related, same = find_related(es, alias, article, size=size, weights=weights, within=within)
        seconds.append(time.perf_counter() - started)
        listings[key] = Listing(
            [key_of[h["_id"]] for h in same if h["_id"] in key_of],
            [key_of[h["_id"]] for h in related if h["_id"] in key_of],
        )
    return listings, seconds


def lee_scores(
    listings: Mapping[str, Listing],
    judged_listings: Mapping[str, Listing],
    baseline: Mapping[str, list[str]],
    matrix: Sequence[Sequence[float]],
    keys: Sequence[str],
) -> dict[str, Any]:
    judged = [f"lee.cor:{i}" for i in range(1, 51)]

    def gains(key: str) -> dict[str, float]:
        row = matrix[judged.index(key)]
        return {other: row[j] for j, other in enumerate(judged) if other != key}

    def judged_only(ranked: Sequence[str]) -> list[str]:
        return [key for key in ranked if key.startswith("lee.cor:")]

    page = [ndcg(listings[k].page(), gains(k)) for k in keys]
    related = [ndcg(listings[k].related, gains(k)) for k in keys]
    base = [ndcg(baseline[k], gains(k)) for k in keys]
    page_judged = [ndcg(judged_listings[k].page(), gains(k)) for k in keys]
    base_judged = [ndcg(judged_only(baseline[k]), gains(k)) for k in keys]
    return {
        "stories": len(keys),
        "ndcg10": sum(page) / len(keys),
        "ndcg10_related_only": sum(related) / len(keys),
        "tfidf_ndcg10": sum(base) / len(keys),
        # Only the 49 other judged stories ranked (the background ones have no judgements:
        # here they only weigh terms), by both.
        "ndcg10_judged_only": sum(page_judged) / len(keys),
        "tfidf_ndcg10_judged_only": sum(base_judged) / len(keys),
        "listed_per_story": sum(len(listings[k].page()[:CUT]) for k in keys) / len(keys),
        "judged_in_first_10": sum(len(judged_only(listings[k].page()[:CUT])) for k in keys)
        / len(keys),
        "tfidf_judged_in_first_10": sum(len(judged_only(baseline[k][:CUT])) for k in keys)
        / len(keys),
        "empty": sum(1 for k in keys if not listings[k].page()),
    }


def topic_scores(
    listings: Mapping[str, Listing],
    baseline: Mapping[str, list[str]],
    topic_of: Mapping[str, str],
    keys: Sequence[str],
) -> dict[str, Any]:
    def same(key: str) -> list[str]:
        return [k for k, t in topic_of.items() if t == topic_of[key] and k != key]

    page = [precision(listings[k].page(), same(k)) for k in keys]
    related = [precision(listings[k].related, same(k)) for k in keys]
    base = [precision(baseline[k], same(k)) for k in keys]
    by_topic = {}
    for topic in sorted({topic_of[k] for k in keys}):
        mine = [i for i, k in enumerate(keys) if topic_of[k] == topic]
        by_topic[topic] = {
            "stories": len(mine),
            "p5": sum(page[i] for i in mine) / len(mine),
            "tfidf_p5": sum(base[i] for i in mine) / len(mine),
        }
    return {
        "stories": len(keys),
        "p5": sum(page) / len(keys),
        "p5_related_only": sum(related) / len(keys),
        "tfidf_p5": sum(base) / len(keys),
        "by_topic": by_topic,
        "empty": sum(1 for k in keys if not listings[k].page()),
    }


@functools.cache
def _prepared() -> dict[str, Any]:
    """Both sets indexed, split, and their baselines (once per process)."""
    docs, matrix = lee()
    es, alias, key_of = build_index("lee", docs)
    wires = topics()
    tes, talias, tkey_of = build_index("tm", wires)
    return {
        "lee": (es, alias, key_of),
        "matrix": matrix,
        "lee_split": split([d.key for d in docs if d.key.startswith("lee.cor:")]),
        "baseline": tfidf_neighbours({d.key: d.body for d in docs}),
        "tm": (tes, talias, tkey_of),
        "topic_split": split([d.key for d in wires]),
        "tbaseline": tfidf_neighbours({d.key: f"{d.title or ''}\n{d.body}" for d in wires}),
        "topic_of": {d.key: str(d.topic) for d in wires},
    }


def evaluate(halves: Sequence[str], weights: Any = None) -> dict[str, Any]:
    from web.related import WEIGHTS

    weights = weights or WEIGHTS
    data = _prepared()
    es, alias, key_of = data["lee"]
    tes, talias, tkey_of = data["tm"]
    matrix, baseline, tbaseline = data["matrix"], data["baseline"], data["tbaseline"]
    lee_split, topic_split, topic_of = data["lee_split"], data["topic_split"], data["topic_of"]
    result: dict[str, Any] = {"weights": asdict(weights)}
    seconds: list[float] = []
    for half in halves:
        listings, spent = run_related(es, alias, key_of, lee_split[half], CUT, weights)
        seconds += spent
        judged = [i for i, key in key_of.items() if key.startswith("lee.cor:")]
        judged_listings, _ = run_related(
            es, alias, key_of, lee_split[half], CUT, weights, within=judged
        )
        result[f"lee_{half}"] = lee_scores(
            listings, judged_listings, baseline, matrix, lee_split[half]
        )
        listings, spent = run_related(tes, talias, tkey_of, topic_split[half], TOPIC_CUT, weights)
        seconds += spent
        result[f"topics_{half}"] = topic_scores(listings, tbaseline, topic_of, topic_split[half])
    seconds.sort()
    result["latency_ms"] = {
        "median": round(1000 * seconds[len(seconds) // 2], 1),
        "p90": round(1000 * seconds[int(0.9 * (len(seconds) - 1))], 1),
        "requests": 2,
    }
    return result


def tune() -> list[dict[str, Any]]:
    """The grid, scored on the tune halves only."""
    from web.related import WEIGHTS

    rows = []
    # Explored in this order: the fusion weights with max_query_terms and RRF's k, then
    # more_like_this's boost_terms around the best of those.
    grid: list[dict[str, Any]] = [
        {
            "words": w,
            "meaning": m,
            "entities": e,
            "max_query_terms": q,
            "rrf_k": k,
            "boost_terms": 0.0,
        }
        for q in (25, 40, 80)
        for k in (10, 60)
        for w, m, e in [(1.0, 1.0, 0.5), (1.0, 0.5, 0.25), (1.0, 0.0, 0.0), (1.0, 0.5, 0.0)]
    ]
    grid += [
        {
            "words": 1.0,
            "meaning": m,
            "entities": e,
            "max_query_terms": 40,
            "rrf_k": 10,
            "boost_terms": 1.0,
        }
        for m, e in [(0.5, 0.25), (0.5, 0.0), (0.25, 0.25)]
    ]
    grid += [
        {
            "words": 1.0,
            "meaning": m,
            "entities": e,
            "max_query_terms": q,
            "rrf_k": k,
            "boost_terms": 1.0,
        }
        for q, k in [(25, 10), (80, 10), (40, 60)]
        for m, e in [(0.5, 0.25), (0.0, 0.0), (1.0, 0.5)]
    ]
    for changes in grid:
        weights = replace(WEIGHTS, **changes)
        found = evaluate(["tune"], weights)
        rows.append(
            {
                **asdict(weights),
                "lee_ndcg10": round(found["lee_tune"]["ndcg10"], 3),
                "tfidf": round(found["lee_tune"]["tfidf_ndcg10"], 3),
                "lee_judged": round(found["lee_tune"]["ndcg10_judged_only"], 3),
                "in10": found["lee_tune"]["judged_in_first_10"],
                "tfidf_judged": round(found["lee_tune"]["tfidf_ndcg10_judged_only"], 3),
                "topics_p5": round(found["topics_tune"]["p5"], 3),
                "tfidf_p5": round(found["topics_tune"]["tfidf_p5"], 3),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m quality related")
    parser.add_argument("--tune", action="store_true", help="the weight grid, tune halves only")
    parser.add_argument("--split", choices=("tune", "test", "both"), default="both")
    args = parser.parse_args(argv)
    if args.tune:
        tune()
        return
    halves = ["tune", "test"] if args.split == "both" else [args.split]
    print(json.dumps(evaluate(halves), indent=1))
