"""The article index definition: one place, versioned, behind an alias.

Bump ``INDEX_VERSION`` whenever ``ARTICLE_MAPPINGS`` changes: a new versioned index is created
and the alias moved to it. Only Elasticsearch core features are used (no analysis-common
plugins), so the same mapping works on the integ-test distribution and on the official image.
"""

from __future__ import annotations

from typing import Any

from elasticsearch import ApiError, Elasticsearch

from shared.settings import Settings

INDEX_VERSION = 1

_KEYWORD = {"type": "keyword", "ignore_above": 512}

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
        "authors": {"type": "keyword", "ignore_above": 300, "fields": {"text": {"type": "text"}}},
        "language": {"type": "keyword"},
        "language_detected": {"type": "boolean"},
        "published_at": {"type": "date"},
        "published_at_source": {"type": "keyword"},
        "received_at": {"type": "date"},
        "indexed_at": {"type": "date"},
        "word_count": {"type": "integer"},
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
            }
        },
    },
}


# Aliases whose mapping this process has brought up to date.
_mapping_applied: set[str] = set()


def index_name(settings: Settings, version: int = INDEX_VERSION) -> str:
    return f"{settings.index_prefix}-articles-v{version}"


def index_body(settings: Settings) -> dict[str, Any]:
    return {
        "settings": {
            "number_of_shards": settings.index_shards,
            "number_of_replicas": settings.index_replicas,
            "refresh_interval": "1s",
        },
        "mappings": ARTICLE_MAPPINGS,
    }


def ensure_index(es: Elasticsearch, settings: Settings) -> str:
    """Create the current versioned index with the alias on it, unless the alias exists.

    Safe to call from every worker at once: losing the creation race is not an error.
    Returns the alias to read and write through.
    """
    alias = settings.articles_alias
    if es.indices.exists_alias(name=alias):
        if alias not in _mapping_applied:
            # Additive mapping changes apply in place, once per process; a conflicting one
            # fails here, loudly, and needs a new INDEX_VERSION.
            es.indices.put_mapping(index=alias, **ARTICLE_MAPPINGS)
            _mapping_applied.add(alias)
        return alias
    body = index_body(settings)
    try:
        es.indices.create(
            index=index_name(settings),
            settings=body["settings"],
            mappings=body["mappings"],
            aliases={alias: {"is_write_index": True}},
        )
    except ApiError as error:
        if error.meta.status != 400 or "resource_already_exists" not in str(error.body):
            raise
        # Another process created it first, or an earlier run died before the alias was set.
        es.indices.put_alias(index=index_name(settings), name=alias, is_write_index=True)
    return alias
