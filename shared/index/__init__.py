"""The article index: its mapping (mapping.py), its versioned life behind aliases (lifecycle.py).

The worker owns the full mapping (these core fields plus its enrichment steps' fragments,
``worker.enrich.registry.article_mappings``) and passes it to ``ensure_index``/``create_index``.
"""

from shared.index.lifecycle import (
    create_index,
    ensure_index,
    forget_applied,
    index_name,
    index_settings,
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
    "article_mappings",
    "create_index",
    "ensure_index",
    "forget_applied",
    "index_name",
    "index_settings",
    "merge_properties",
    "write_targets",
]
