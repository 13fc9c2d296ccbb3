"""The article index's life: versioned indices behind a read and a write alias.

Searches read ``<prefix>-articles``, workers write ``<prefix>-articles-write``; both point at
one index, ``<prefix>-articles-v<N>[-<build>]``. Additive mapping changes apply in place; a
conflicting one bumps ``INDEX_VERSION`` and ``newsroom reindex`` builds the new index beside
the old (reached as ``<prefix>-articles-next`` meanwhile), then moves both aliases at once.
The mapping is an argument everywhere: the worker owns the full one (core fields and its
enrichment steps' fragments, ``worker.enrich.registry.article_mappings``).
"""

from __future__ import annotations

from typing import Any

from elasticsearch import ApiError, Elasticsearch

from shared.index.mapping import INDEX_VERSION
from shared.settings import Settings

# Aliases whose mapping this process has brought up to date.
_mapping_applied: set[str] = set()


def index_name(settings: Settings, version: int = INDEX_VERSION, build: str | None = None) -> str:
    """``<prefix>-articles-v<N>``; a rebuild (``newsroom reindex``) adds when it started."""
    name = f"{settings.index_prefix}-articles-v{version}"
    return f"{name}-{build}" if build else name


def index_settings(settings: Settings) -> dict[str, Any]:
    return {
        "number_of_shards": settings.index_shards,
        "number_of_replicas": settings.index_replicas,
        "refresh_interval": "1s",
    }


def create_index(
    es: Elasticsearch,
    settings: Settings,
    name: str,
    aliases: dict[str, Any],
    mappings: dict[str, Any],
) -> None:
    es.indices.create(
        index=name, settings=index_settings(settings), mappings=mappings, aliases=aliases
    )


def ensure_index(es: Elasticsearch, settings: Settings, mappings: dict[str, Any]) -> str:
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
        es.indices.put_mapping(index=write, **mappings)
        _mapping_applied.add(write)
        return write
    try:
        create_index(
            es,
            settings,
            index_name(settings),
            {read: {}, write: {"is_write_index": True}},
            mappings,
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


def write_targets(
    es: Elasticsearch, settings: Settings, mappings: dict[str, Any], *, rebuild: bool = False
) -> list[str]:
    """Where a batch is indexed: the write alias and, while an index is being rebuilt, that
    index too, so articles arriving during a rebuild are in it when the aliases switch.
    A rebuild's own batches go to the new index only. ``mappings`` is the writer's full
    mapping (``ensure_index``)."""
    write = ensure_index(es, settings, mappings)
    building = bool(es.indices.exists_alias(name=settings.articles_next_alias))
    if building and rebuild:
        return [settings.articles_next_alias]
    return [write, settings.articles_next_alias] if building else [write]


def forget_applied(settings: Settings) -> None:
    """Forget that this process brought the settings' write alias up to date (its index was
    deleted: the next ``ensure_index`` creates it again)."""
    _mapping_applied.discard(settings.articles_write_alias)
