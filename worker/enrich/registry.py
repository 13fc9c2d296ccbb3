"""The worker's enrichment steps as the index sees them: the full article mapping and the
enrichment version. (A stand-in: every field is still in shared.index.CORE_PROPERTIES; the
steps' own mapping fragments move here from there.)"""

from __future__ import annotations

from typing import Any

from shared.index import article_mappings as core_article_mappings
from worker.enrich import ENRICHMENT_VERSION

__all__ = ["ENRICHMENT_VERSION", "article_mappings"]


def article_mappings() -> dict[str, Any]:
    """The full mapping of the documents this worker writes: core fields and steps' fragments."""
    return core_article_mappings(enrichment_version=ENRICHMENT_VERSION)
