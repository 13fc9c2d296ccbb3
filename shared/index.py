"""The article index definition: one place, versioned, behind aliases.

Searches read ``<prefix>-articles``, workers write ``<prefix>-articles-write``; both point at
one index, ``<prefix>-articles-v<N>[-<build>]``. Additive mapping changes apply in place; a
conflicting one bumps ``INDEX_VERSION`` and ``newsroom reindex`` builds the new index beside
the old (reached as ``<prefix>-articles-next`` meanwhile), then moves both aliases at once.
Only Elasticsearch core features are used (no analysis-common plugins), so the same mapping
works on the integ-test distribution and on the official image.
"""

from __future__ import annotations

from typing import Any

from elasticsearch import ApiError, Elasticsearch

from shared.settings import Settings

INDEX_VERSION = 1

_KEYWORD = {"type": "keyword", "ignore_above": 512}
# Entity names: exact values for facets, analysed text for search.
_ENTITY = {"type": "keyword", "ignore_above": 300, "fields": {"text": {"type": "text"}}}
# What produced each part of an enrichment (enrichment.models.<kind>: "<package> <version>").
MODEL_KINDS = (
    "language",
    "keywords",
    "sentiment",
    "dates",
    "html",
    "gazetteer",
    "nlp",
    "embedding",
    "near_duplicates",
)
# all-MiniLM-L6-v2 sentence embeddings (embedding/model.py checks it matches).
EMBEDDING_DIMS = 384
# Longest autocomplete input kept whole: a later word on, then what to show (shared/suggest.py).
SUGGEST_MAX_INPUT_CHARS = 120

ARTICLE_MAPPINGS: dict[str, Any] = {
    # Strict: a field the code does not know about is a bug, not something to guess a type for.
    "dynamic": "strict",
    "properties": {
        "id": {"type": "keyword"},
        "url": {"type": "keyword", "ignore_above": 4096},
        "source": {"type": "keyword", "ignore_above": 300, "fields": {"text": {"type": "text"}}},
        "title": {"type": "text", "fields": {"keyword": _KEYWORD}},
        "title_derived": {"type": "boolean"},
        "body": {"type": "text"},
        # The body as posted was hard-wrapped and is stored joined into paragraphs (reflow_body).
        "body_reflowed": {"type": "boolean"},
        "authors": {"type": "keyword", "ignore_above": 300, "fields": {"text": {"type": "text"}}},
        "language": {"type": "keyword"},
        "language_detected": {"type": "boolean"},
        "published_at": {"type": "date"},
        "published_at_source": {"type": "keyword"},
        "received_at": {"type": "date"},
        "indexed_at": {"type": "date"},
        # 1, then + 1 for each correction (same id, different content); worker/versions.py.
        "revision": {"type": "integer"},
        "content_hash": {"type": "keyword", "index": False, "doc_values": False},
        "word_count": {"type": "integer"},
        "reading_time_minutes": {"type": "integer"},
        "keywords": {"type": "keyword", "ignore_above": 200, "fields": {"text": {"type": "text"}}},
        "summary": {"type": "text"},
        "sentiment": {
            "properties": {
                "score": {"type": "float"},
                "label": {"type": "keyword"},
                "positive": {"type": "float"},
                "negative": {"type": "float"},
            }
        },
        "dates_mentioned": {
            "properties": {
                "text": {"type": "keyword", "ignore_above": 100},
                "date": {"type": "date"},
                "resolution": {"type": "keyword"},
            }
        },
        "people": _ENTITY,
        "organisations": _ENTITY,
        "places": {
            "properties": {
                "name": _ENTITY,
                "country": {"type": "keyword"},
                "country_code": {"type": "keyword"},
                "kind": {"type": "keyword"},
                "location": {"type": "geo_point"},
                "geonameid": {"type": "keyword"},
                "mentions": {"type": "integer"},
                "mentioned_as": {"type": "keyword", "ignore_above": 200},
            }
        },
        # Place names the gazetteer could not resolve, kept for review, not for facets.
        "unresolved_places": {
            "properties": {
                "name": {"type": "keyword", "ignore_above": 200},
                "mentions": {"type": "integer"},
            }
        },
        # mentioned_as: the forms as written ("Arafat", "Abdel Aziz"); merged: why a short form
        # became a name known from other articles (worker/enrich/names.py), kept as evidence.
        "entity_mentions": {
            "properties": {
                kind: {
                    "properties": {
                        "name": _ENTITY,
                        "mentions": {"type": "integer"},
                        "mentioned_as": {"type": "keyword", "ignore_above": 200},
                        "merged": {"type": "keyword", "index": False, "doc_values": False},
                    }
                }
                for kind in ("people", "organisations")
            }
        },
        # Nested, so "a quote by X that says Y" matches within one quote, not across two.
        "quotes": {
            "type": "nested",
            "properties": {
                "text": {"type": "text"},
                "speaker": _ENTITY,
                "speaker_mention": {"type": "keyword", "ignore_above": 200},
                "verb": {"type": "keyword"},
                "attribution": {"type": "keyword"},
                "start": {"type": "integer"},
                "end": {"type": "integer"},
                "paragraphs": {"type": "integer"},
                "part": {"type": "integer"},
                "parts": {"type": "integer"},
            },
        },
        "duplicates": {
            "properties": {
                "cluster_id": {"type": "keyword"},
                "duplicate_of": {"type": "keyword"},
                "near_duplicates": {"type": "keyword"},
                "similarity": {"type": "float"},
            }
        },
        "embedding": {
            "type": "dense_vector",
            "dims": EMBEDDING_DIMS,
            "index": True,
            "similarity": "dot_product",  # the vectors are L2-normalised
        },
        # Autocomplete over titles and entity names (worker/enrich/suggest.py fills it). The
        # standard analyzer keeps digits ("G7"), which the default "simple" one drops; the
        # "kind" context lets one request ask for titles, people, ... separately.
        "suggest": {
            "type": "completion",
            "analyzer": "standard",
            "max_input_length": SUGGEST_MAX_INPUT_CHARS,
            "contexts": [{"name": "kind", "type": "category"}],
        },
        # What the client sent that we do not search (a posted HTML page): kept for
        # re-enrichment, never indexed.
        "original": {"type": "object", "enabled": False},
        "dateline": {
            "properties": {
                "raw": {"type": "keyword", "ignore_above": 512},
                "place": {"type": "keyword", "fields": {"text": {"type": "text"}}},
                "region": {"type": "keyword"},
                "country": {"type": "keyword"},
                "country_code": {"type": "keyword"},
                "location": {"type": "geo_point"},
                "date_text": {"type": "keyword"},
                "agency": {"type": "keyword"},
            }
        },
        "content_type": {"type": "keyword"},
        # Client fields we do not model: kept in _source, never indexed, so no mapping surprises.
        "metadata": {"type": "object", "enabled": False},
        "enrichment": {
            "properties": {
                "version": {"type": "keyword"},
                "steps": {"type": "keyword"},
                "skipped": {"type": "keyword", "ignore_above": 300},
                # Steps that worked on a bounded part of their input (worker.enrich.truncated).
                "truncated": {"type": "keyword", "ignore_above": 300},
                "models": {"properties": {name: {"type": "keyword"} for name in MODEL_KINDS}},
            }
        },
    },
}


# Aliases whose mapping this process has brought up to date.
_mapping_applied: set[str] = set()


def index_name(settings: Settings, version: int = INDEX_VERSION, build: str | None = None) -> str:
    """``<prefix>-articles-v<N>``; a rebuild (``newsroom reindex``) adds when it started."""
    name = f"{settings.index_prefix}-articles-v{version}"
    return f"{name}-{build}" if build else name


def index_body(settings: Settings) -> dict[str, Any]:
    return {
        "settings": {
            "number_of_shards": settings.index_shards,
            "number_of_replicas": settings.index_replicas,
            "refresh_interval": "1s",
        },
        "mappings": ARTICLE_MAPPINGS,
    }


def create_index(es: Elasticsearch, settings: Settings, name: str, aliases: dict[str, Any]) -> None:
    body = index_body(settings)
    es.indices.create(
        index=name, settings=body["settings"], mappings=body["mappings"], aliases=aliases
    )


def ensure_index(es: Elasticsearch, settings: Settings) -> str:
    """Create the current versioned index with its read and write aliases, unless they exist.

    Safe to call from every worker at once: losing the creation race is not an error.
    Returns the alias to write through. Searches read ``settings.articles_alias``; the two are
    one index except while ``newsroom reindex`` switches them.
    """
    read, write = settings.articles_alias, settings.articles_write_alias
    if write in _mapping_applied:
        return write
    if es.indices.exists_alias(name=read):
        if not es.indices.exists_alias(name=write):
            # An index from before the write alias: it gets one, on the same index.
            (current,) = es.indices.get_alias(name=read)
            es.indices.put_alias(index=current, name=write, is_write_index=True)
        # Additive mapping changes apply in place, once per process; a conflicting one
        # fails here, loudly, and needs a new INDEX_VERSION (and `newsroom reindex`).
        es.indices.put_mapping(index=write, **ARTICLE_MAPPINGS)
        _mapping_applied.add(write)
        return write
    try:
        create_index(
            es, settings, index_name(settings), {read: {}, write: {"is_write_index": True}}
        )
    except ApiError as error:
        if error.meta.status != 400 or "resource_already_exists" not in str(error.body):
            raise
        # Another process created it first, or an earlier run died before the aliases were set.
        es.indices.update_aliases(
            actions=[
                {"add": {"index": index_name(settings), "alias": read}},
                {"add": {"index": index_name(settings), "alias": write, "is_write_index": True}},
            ]
        )
    return write


def write_targets(es: Elasticsearch, settings: Settings, *, rebuild: bool = False) -> list[str]:
    """Where a batch is indexed: the write alias and, while an index is being rebuilt, that
    index too, so articles arriving during a rebuild are in it when the aliases switch.
    A rebuild's own batches go to the new index only."""
    write = ensure_index(es, settings)
    building = bool(es.indices.exists_alias(name=settings.articles_next_alias))
    if building and rebuild:
        return [settings.articles_next_alias]
    return [write, settings.articles_next_alias] if building else [write]
