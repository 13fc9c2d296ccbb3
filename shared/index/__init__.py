"""The article index: its mapping (mapping.py), its versioned life behind aliases and index
templates (lifecycle.py), bulk writing (bulk.py) and ``newsroom reindex``'s rebuild beside the
live index (rebuild.py, imported by itself: it sends tasks).

The worker owns the full mapping (these core fields plus its enrichment steps' fragments,
``worker.enrich.registry.article_mappings``) and passes it to ``ensure_index``/``create_index``.
"""

from shared.index.bulk import BulkOutcome, bulk_index
from shared.index.lifecycle import (
    create_index,
    delete_templates,
    ensure_index,
    forget_applied,
    index_behind,
    index_name,
    index_settings,
    index_version,
    publish_template,
    template_meta,
    write_targets,
)
from shared.index.mapping import (
    CORE_PROPERTIES,
    EMBEDDING_DIMS,
    INDEX_VERSION,
    MODEL_KINDS,
    SUGGEST_MAX_INPUT_CHARS,
    article_mappings,
    merge_properties,
)

__all__ = [
    "CORE_PROPERTIES",
    "EMBEDDING_DIMS",
    "INDEX_VERSION",
    "MODEL_KINDS",
    "SUGGEST_MAX_INPUT_CHARS",
    "BulkOutcome",
    "article_mappings",
    "bulk_index",
    "create_index",
    "delete_templates",
    "ensure_index",
    "forget_applied",
    "index_behind",
    "index_name",
    "index_settings",
    "index_version",
    "merge_properties",
    "publish_template",
    "template_meta",
    "write_targets",
]
