"""Related stories: what a reader of one article would open next.

Three rankings of the other articles, fused by weighted reciprocal rank fusion:

- **words**: ``more_like_this`` over title and body with the article's most distinctive terms
  (up to ``MAX_QUERY_TERMS`` by tf-idf, stop words left out) and a low ``minimum_should_match``:
  a story sharing a few rare words is a candidate. Elasticsearch's default (30% of 25 terms)
  only ever found near-copies of short stories (issue 14: 0.9 stories per article).
- **meaning**: kNN on the stored sentence embedding (all-MiniLM-L6-v2), from
  ``MIN_SIMILARITY`` cosine up, so an unrelated nearest neighbour is not offered.
- **entities**: the people, organisations and places the article names, one ``term`` clause
  each: an article sharing rarer or more of them scores higher.

The article, and the other members of its near-duplicate cluster, are never "related": they
are listed apart (``same_story``). Related stories are one per cluster, the best-ranked copy
standing for its cluster with the other copies found counted (``copies``). When the article
is dated, candidates dated far from it count less (``date_weight``); undated ones are not
penalised.

Cost: two requests. One reads the article's vector (Elasticsearch 9 keeps vectors out of
``_source``; ``fields`` returns them), one ``_msearch`` runs the three rankings and the
same-story list together.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

from elasticsearch import Elasticsearch, TransportError

from web.search import _LIST_SOURCE, SearchHit, shape_hit

RELATED_SIZE = 6
SAME_STORY_SIZE = 20
# How deep each ranking goes before fusion.
CANDIDATES = 30
MAX_QUERY_TERMS = 25
# kNN neighbours below this cosine similarity are not candidates (web.search uses 0.4 for a
# query against articles; two articles on one subject score higher than a query does).
MIN_SIMILARITY = 0.3
# Entities used at most (the article's first-named).
MAX_ENTITIES = 30
# Lower than search's 60: the first few candidates of a ranking matter most here.
RRF_K = 10
# Candidates dated within this many days of the article count fully; farther ones less, down
# to DATE_FLOOR (never to nothing: an old story on the same subject is still related).
WINDOW_DAYS = 14.0
DATE_HALF_LIFE_DAYS = 60.0
DATE_FLOOR = 0.3
# What a search result list reads, and the cluster to group copies by.
_SOURCE = [*_LIST_SOURCE, "duplicates.cluster_id"]
# Function words more_like_this would otherwise pick in a small index where they are not yet
# frequent enough to weigh nothing. Hand-written: Elasticsearch's "_english_" list is for
# analysers only, and web does not load spaCy.
STOP_WORDS = sorted(
    set(
        """a about above after again against all also am an and any are as at be because been
        before being below between both but by can could did do does doing down during each
        few for from further had has have having he her here hers herself him himself his how
        i if in into is it its itself just me more most my myself no nor not now of off on
        once only or other our ours ourselves out over own same she should so some such than
        that the their theirs them themselves then there these they this those through to too
        under until up very was we were what when where which while who whom why will with
        would you your yours yourself yourselves said says say told mr mrs ms one two three
        year years today yesterday week new people would could may might must shall""".split()  # noqa: SIM905 (shorter)
    )
)


@dataclass(frozen=True)
class Weights:
    """How much each ranking counts in the fusion, and the text ranking's settings: chosen
    on the tune halves of the Lee stories and the Reuters topics only (quality/related.py,
    ``python -m quality related --tune``)."""

    words: float = 1.0
    meaning: float = 0.5
    entities: float = 0.25
    minimum_should_match: str = "1"
    max_query_terms: int = MAX_QUERY_TERMS
    rrf_k: int = RRF_K
    # more_like_this's boost_terms: each chosen term weighted by its tf-idf in the article,
    # so the query is the article's tf-idf vector rather than a bag of equal terms (tune
    # half: nDCG@10 0.152 -> 0.187).
    boost_terms: float = 1.0


WEIGHTS = Weights()


def _cluster_of(article: Mapping[str, Any]) -> str | None:
    cluster = (article.get("duplicates") or {}).get("cluster_id")
    return str(cluster) if cluster else None


def _exclusions(article: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The article and its near-duplicate cluster: never related."""
    clauses: list[dict[str, Any]] = [{"ids": {"values": [article["id"]]}}]
    cluster = _cluster_of(article)
    if cluster:
        clauses.append({"term": {"duplicates.cluster_id": cluster}})
    return clauses


def entity_clauses(article: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One ``term`` clause per person, organisation and place the article names."""
    clauses: list[dict[str, Any]] = []
    for field in ("people", "organisations"):
        for name in article.get(field) or []:
            clauses.append({"term": {field: name}})
    for place in article.get("places") or []:
        if place.get("geonameid"):
            clauses.append({"term": {"places.geonameid": str(place["geonameid"])}})
    return clauses[:MAX_ENTITIES]


def build_searches(
    alias: str,
    article: Mapping[str, Any],
    vector: Sequence[float] | None,
    *,
    weights: Weights = WEIGHTS,
    depth: int = CANDIDATES,
    within: Sequence[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """The request bodies of the ``_msearch``, by name: ``words``, ``meaning`` (with a
    vector), ``entities`` (when the article names any) and ``same_story`` (in a cluster).
    ``within``: only these articles may be related (an evaluation ranks a judged set)."""
    not_these = _exclusions(article)
    only: list[dict[str, Any]] = [{"ids": {"values": list(within)}}] if within is not None else []
    listing: dict[str, Any] = {"_source": {"includes": _SOURCE}, "size": depth}
    searches: dict[str, dict[str, Any]] = {
        "words": {
            "query": {
                "bool": {
                    "must": [
                        {
                            "more_like_this": {
                                "fields": ["title", "body"],
                                "like": [{"_index": alias, "_id": article["id"]}],
                                "min_term_freq": 1,
                                "min_doc_freq": 2,
                                "max_query_terms": weights.max_query_terms,
                                "min_word_length": 3,
                                "stop_words": STOP_WORDS,
                                "minimum_should_match": weights.minimum_should_match,
                                "boost_terms": weights.boost_terms,
                            }
                        }
                    ],
                    "must_not": not_these,
                    "filter": only,
                }
            },
            **listing,
        }
    }
    if vector:
        searches["meaning"] = {
            "knn": {
                "field": "embedding",
                "query_vector": list(vector),
                "k": depth,
                "num_candidates": 4 * depth,
                "similarity": MIN_SIMILARITY,  # the raw dot product: cosine, unit vectors
                "filter": {"bool": {"must_not": not_these, "filter": only}},
            },
            **listing,
        }
    entities = entity_clauses(article)
    if entities:
        searches["entities"] = {
            "query": {
                "bool": {
                    "should": entities,
                    "minimum_should_match": 1,
                    "must_not": not_these,
                    "filter": only,
                }
            },
            **listing,
        }
    cluster = _cluster_of(article)
    if cluster:
        searches["same_story"] = {
            "query": {
                "bool": {
                    "filter": [{"term": {"duplicates.cluster_id": cluster}}],
                    "must_not": [{"ids": {"values": [article["id"]]}}],
                }
            },
            "_source": {"includes": _SOURCE},
            "size": SAME_STORY_SIZE,
            "sort": [{"published_at": {"order": "asc", "missing": "_last"}}],
        }
    return searches


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def date_weight(article_date: datetime | None, other_date: datetime | None) -> float:
    """1 within ``WINDOW_DAYS`` of the article (or when either is undated), then halving every
    ``DATE_HALF_LIFE_DAYS`` down to ``DATE_FLOOR``."""
    if article_date is None or other_date is None:
        return 1.0
    if (article_date.tzinfo is None) != (other_date.tzinfo is None):
        article_date, other_date = (
            article_date.replace(tzinfo=None),
            other_date.replace(tzinfo=None),
        )
    days = abs((article_date - other_date).total_seconds()) / 86_400
    if days <= WINDOW_DAYS:
        return 1.0
    return max(DATE_FLOOR, math.pow(0.5, (days - WINDOW_DAYS) / DATE_HALF_LIFE_DAYS))


def fuse(
    rankings: Mapping[str, Sequence[Mapping[str, Any]]],
    weights: Weights = WEIGHTS,
    *,
    article_date: datetime | None = None,
    size: int = RELATED_SIZE,
) -> list[dict[str, Any]]:
    """Weighted reciprocal rank fusion of the rankings' hits (``_id``, ``_source``), times the
    date weight, one entry per near-duplicate cluster: the best-ranked member, with
    ``copies`` (the ids of the other members found), ``sources`` (the outlets of all the
    members found) and ``found_by`` (the rankings that found it)."""
    factor = {"words": weights.words, "meaning": weights.meaning, "entities": weights.entities}
    scores: dict[str, float] = {}
    sources: dict[str, Mapping[str, Any]] = {}
    found_by: dict[str, list[str]] = {}
    for name, hits in rankings.items():
        for rank, hit in enumerate(hits, start=1):
            doc_id = str(hit["_id"])
            score = factor.get(name, 0.0) / (weights.rrf_k + rank)
            scores[doc_id] = scores.get(doc_id, 0.0) + score
            sources.setdefault(doc_id, hit.get("_source") or {})
            found_by.setdefault(doc_id, []).append(name)
    for doc_id, source in sources.items():
        scores[doc_id] *= date_weight(article_date, _when(source.get("published_at")))
    ordered = sorted(scores, key=lambda doc_id: -scores[doc_id])
    entries: list[dict[str, Any]] = []
    by_cluster: dict[str, dict[str, Any]] = {}
    for doc_id in ordered:
        if scores[doc_id] <= 0:
            continue
        source = sources[doc_id]
        cluster = (source.get("duplicates") or {}).get("cluster_id") or doc_id
        if cluster in by_cluster:
            by_cluster[cluster]["copies"].append(doc_id)
            if source.get("source"):
                by_cluster[cluster]["sources"].add(str(source["source"]))
            continue
        entry = {
            "_id": doc_id,
            "_source": source,
            "copies": [],
            "sources": {str(source["source"])} if source.get("source") else set(),
            "found_by": found_by[doc_id],
        }
        by_cluster[cluster] = entry
        entries.append(entry)
    return entries[:size]


def article_vector(es: Elasticsearch, alias: str, article_id: str) -> list[float] | None:
    """The stored embedding of an article, or None (not embedded, or gone)."""
    response = es.search(
        index=alias,
        query={"ids": {"values": [article_id]}},
        fields=[{"field": "embedding"}],
        source=False,
        size=1,
        ignore_unavailable=True,
    )
    for hit in response["hits"]["hits"]:
        values = (hit.get("fields") or {}).get("embedding")
        if values:
            # A dense_vector comes back as one list (or a list holding it).
            first = values[0]
            return [float(x) for x in (first if isinstance(first, list) else values)]
    return None


def find_related(
    es: Elasticsearch,
    alias: str,
    article: Mapping[str, Any],
    *,
    size: int = RELATED_SIZE,
    weights: Weights = WEIGHTS,
    within: Sequence[str] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(related, same_story) as raw hits (``_id``, ``_source``; related ones with ``copies``,
    ``sources`` and ``found_by``: ``fuse``)."""
    vector = article_vector(es, alias, str(article["id"]))
    searches = build_searches(alias, article, vector, weights=weights, within=within)
    lines: list[dict[str, Any]] = []
    for body in searches.values():
        lines += [{"index": alias, "ignore_unavailable": True}, body]
    responses = es.msearch(searches=lines)["responses"]
    hits: dict[str, list[dict[str, Any]]] = {}
    for name, response in zip(searches, responses, strict=True):
        if "error" in response:
            # Answered as Elasticsearch being unavailable (503), as a failed request would be.
            raise TransportError(f"related stories: the {name} search failed: {response['error']}")
        hits[name] = list(response["hits"]["hits"])
    same_story = hits.pop("same_story", [])
    related = fuse(hits, weights, article_date=_when(article.get("published_at")), size=size)
    return related, same_story


class RelatedStories(TypedDict):
    """The article page's and ``/api/articles/<id>/related``'s stories beside an article."""

    related: list[SearchHit]  # like it, one per near-duplicate cluster
    same_story: list[SearchHit]  # its near-duplicate cluster's other members


def related_stories(
    es: Elasticsearch, alias: str, article: Mapping[str, Any], *, size: int = RELATED_SIZE
) -> RelatedStories:
    """Stories like this one, one per near-duplicate cluster (words, meaning and shared
    entities fused: ``find_related``), and the other members of its near-duplicate cluster
    (the same story from other outlets), listed apart, shaped as search hits."""
    related, same_story = find_related(es, alias, article, size=size)
    shaped = []
    for entry in related:
        hit = shape_hit(entry)
        # As a grouped search hit's: the group's size and its distinct sources, counted among
        # the candidates found.
        hit["copies"] = 1 + len(entry["copies"])
        hit["copy_sources"] = len(entry["sources"])
        shaped.append(hit)
    return {"related": shaped, "same_story": [shape_hit(hit) for hit in same_story]}
