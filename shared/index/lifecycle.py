"""The article index's life: versioned indices behind a read and a write alias.

Searches read ``<prefix>-articles``, workers write ``<prefix>-articles-write``; both point at
one index, ``<prefix>-articles-v<N>[-<build>]``. The mapping is an argument everywhere: the
worker owns the full one (core fields and its enrichment steps' fragments,
``worker.enrich.registry.article_mappings``), and ``ensure_index`` publishes it as the index
template of its ``INDEX_VERSION`` (``<prefix>-articles-v<N>``, matching that index and its
rebuilds ``<prefix>-articles-v<N>-*``).

- An additive change (a new field) is put on the live index in place, at worker start.
- A conflicting one (a field's type, its analyzer, ...) bumps ``INDEX_VERSION``. Workers on
  the new code publish the new template, leave the older live index's fields alone (they only
  add the top-level fields it lacks; a warning says it is behind) and keep writing to it;
  ``newsroom reindex`` (shared/index/rebuild.py), which holds no mapping itself, creates the
  new index by name from that template, fills it beside the old one (reached as
  ``<prefix>-articles-next`` meanwhile), then moves both aliases at once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from elasticsearch import ApiError, Elasticsearch

from shared.index.mapping import INDEX_VERSION
from shared.settings import Settings

log = logging.getLogger(__name__)

# Above the priorities of Elasticsearch's built-in templates (100 for logs-*-*, metrics-*-*,
# ...); two of ours never overlap (one version each: "-v1" and "-v1-*" never match "-v10").
TEMPLATE_PRIORITY = 200

# Write aliases this process has checked (and whose mapping it brought up to date).
_ready: set[str] = set()


def index_name(settings: Settings, version: int = INDEX_VERSION, build: str | None = None) -> str:
    """``<prefix>-articles-v<N>``; a rebuild (``newsroom reindex``) adds when it started.
    Also the name of version N's index template."""
    name = f"{settings.index_prefix}-articles-v{version}"
    return f"{name}-{build}" if build else name


def index_version(settings: Settings, index: str) -> int | None:
    """The ``INDEX_VERSION`` an index of ours was made for (from its name), None for another."""
    found = re.fullmatch(rf"{re.escape(settings.index_prefix)}-articles-v(\d+)(?:-.+)?", index)
    return int(found.group(1)) if found else None


def index_settings(settings: Settings) -> dict[str, Any]:
    return {
        "number_of_shards": settings.index_shards,
        "number_of_replicas": settings.index_replicas,
        "refresh_interval": "1s",
    }


def index_behind(es: Elasticsearch, alias: str) -> str | None:
    """The index an alias points at (the first, if several), None when there is no alias."""
    found = es.options(ignore_status=404).indices.get_alias(name=alias)
    if found.meta.status == 404:
        return None
    return next(iter(found.body), None)


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


def publish_template(es: Elasticsearch, settings: Settings, mappings: Mapping[str, Any]) -> None:
    """Make ``mappings`` the template of this ``INDEX_VERSION``'s indices, so an index created
    by name (``newsroom reindex``) gets the writers' mapping; its ``_meta`` is the mapping's
    (``index_version``, ``enrichment_version``)."""
    name = index_name(settings)
    es.indices.put_index_template(
        name=name,
        index_patterns=[name, f"{name}-*"],
        priority=TEMPLATE_PRIORITY,
        template={"settings": index_settings(settings), "mappings": dict(mappings)},
        meta={**mappings.get("_meta", {}), "index_version": INDEX_VERSION},
    )


def template_meta(es: Elasticsearch, settings: Settings) -> dict[str, Any] | None:
    """The ``_meta`` of this ``INDEX_VERSION``'s index template; None when no worker of this
    version has published it yet."""
    found = es.options(ignore_status=404).indices.get_index_template(name=index_name(settings))
    if found.meta.status == 404 or not found.body.get("index_templates"):
        return None
    return dict(found.body["index_templates"][0]["index_template"].get("_meta") or {})


def ensure_index(es: Elasticsearch, settings: Settings, mappings: dict[str, Any]) -> str:
    """Publish ``mappings`` as this version's template, create the versioned index with its
    read and write aliases unless they exist, and bring the live index's mapping up to date
    when it is of this version. Once per process; returns the alias to write through.

    Safe to call from every worker at once: losing the creation race is not an error. A live
    index of an older version keeps its fields (putting a conflicting mapping would fail; it
    gets only the new top-level ones) and is written to until ``newsroom reindex`` switches the
    aliases to an index of this version.
    Searches read ``settings.articles_alias``; the two aliases are one index except while
    ``newsroom reindex`` switches them.
    """
    read, write = settings.articles_alias, settings.articles_write_alias
    if write in _ready:
        return write
    publish_template(es, settings, mappings)
    if es.indices.exists_alias(name=read):
        if not es.indices.exists_alias(name=write):
            # An index from before the write alias: it gets one, on the same index.
            (current,) = es.indices.get_alias(name=read)
            es.indices.put_alias(index=current, name=write, is_write_index=True)
        live = index_behind(es, write) or ""
        version = index_version(settings, live)
        if version is None or version == INDEX_VERSION:
            # Additive changes apply in place; a conflicting one fails here, loudly: it needs
            # a new INDEX_VERSION (and `newsroom reindex`).
            es.indices.put_mapping(index=write, **mappings)
        elif version < INDEX_VERSION:
            added = _add_missing_fields(es, live, mappings)
            log.warning(
                "index %s is v%d, behind the code's v%d: its fields are left as they are "
                "(added those it lacked: %s); run `newsroom reindex`",
                live,
                version,
                INDEX_VERSION,
                ", ".join(added) or "none",
            )
        else:
            log.warning(
                "index %s is v%d, ahead of this code's v%d: upgrade this process",
                live,
                version,
                INDEX_VERSION,
            )
        _ready.add(write)
        return write
    name = index_name(settings)
    try:
        create_index(es, settings, name, {read: {}, write: {"is_write_index": True}}, mappings)
    except ApiError as error:
        if error.meta.status != 400 or "resource_already_exists" not in str(error.body):
            raise
        # Another process created it first, or an earlier run died before the aliases were set.
        es.indices.update_aliases(
            actions=[
                {"add": {"index": name, "alias": read}},
                {"add": {"index": name, "alias": write, "is_write_index": True}},
            ]
        )
    _ready.add(write)
    return write


def _add_missing_fields(es: Elasticsearch, index: str, mappings: Mapping[str, Any]) -> list[str]:
    """Put on ``index`` the top-level fields of ``mappings`` it lacks (which cannot conflict),
    so documents of the newer version that carry them are not refused by the strict mapping
    until the switch; its own fields are never touched. Returns the names added."""
    have = es.indices.get_mapping(index=index)[index]["mappings"].get("properties", {})
    missing = {name: field for name, field in mappings["properties"].items() if name not in have}
    if missing:
        es.indices.put_mapping(index=index, properties=missing)
    return sorted(missing)


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
    """Forget that this process checked the settings' write alias (its index or template was
    deleted: the next ``ensure_index`` publishes and creates them again)."""
    _ready.discard(settings.articles_write_alias)


def delete_templates(es: Elasticsearch, settings: Settings, *, nested: bool = False) -> None:
    """Delete the index templates of every version under the settings' prefix and, ``nested``,
    under the prefixes made from it (``<prefix>-<name>``): tests and benchmarks clean up what
    their workers published. Indices are deleted by name elsewhere."""
    pattern = "-*articles-v*" if nested else "-articles-v*"
    es.options(ignore_status=404).indices.delete_index_template(
        name=f"{settings.index_prefix}{pattern}"
    )
    forget_applied(settings)
