"""The article mapping: the core fields here, the enrichment steps' fragments added by the worker.

Who declares a property is decided by who writes it. The core declares what an article has
before any enrichment step runs: the fields a client posts (as ingest queues them, even when a
step fills or rewrites them: ``body``, ``title``, ``url``, ``published_at``, ...) and what the
system stamps around the steps (``enrichment`` by the runner, ``original`` by the pipeline,
``revision`` and ``content_hash`` by worker/versions.py, ``indexed_at`` by the bulk writer). A
property that only an enrichment step produces is declared by that step, in its module under
worker/enrich/steps/ (``duplicates``, written by the pipeline's near-duplicate stage, by
worker/enrich/duplicates.py); worker/enrich/registry.py composes the whole with
``article_mappings``. Each property is declared once (tests/test_steps_mapping.py).

Mappings are strict. Only Elasticsearch core features are used (no analysis-common plugins), so
the same mapping works on the integ-test distribution and on the official image. A conflicting
change (a field's type, its analyzer, ...) bumps ``INDEX_VERSION``: see shared/index/lifecycle.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

INDEX_VERSION = 1

_KEYWORD = {"type": "keyword", "ignore_above": 512}
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

# The core: what an article has before any enrichment step runs (see the module docstring).
CORE_PROPERTIES: dict[str, Any] = {
    "id": {"type": "keyword"},
    "url": {"type": "keyword", "ignore_above": 4096},
    "source": {"type": "keyword", "ignore_above": 300, "fields": {"text": {"type": "text"}}},
    "title": {"type": "text", "fields": {"keyword": _KEYWORD}},
    "body": {"type": "text"},
    "authors": {"type": "keyword", "ignore_above": 300, "fields": {"text": {"type": "text"}}},
    "language": {"type": "keyword"},
    "published_at": {"type": "date"},
    "published_at_source": {"type": "keyword"},
    "received_at": {"type": "date"},
    "indexed_at": {"type": "date"},
    # 1, then + 1 for each correction (same id, different content); worker/versions.py.
    "revision": {"type": "integer"},
    "content_hash": {"type": "keyword", "index": False, "doc_values": False},
    # What the client sent that we do not search (a posted HTML page): kept for
    # re-enrichment, never indexed.
    "original": {"type": "object", "enabled": False},
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
            # models: one keyword per kind, added by article_mappings.
        }
    },
}


def article_mappings(
    step_properties: Mapping[str, Any] = {},
    model_kinds: Sequence[str] = MODEL_KINDS,
    *,
    enrichment_version: str | None = None,
) -> dict[str, Any]:
    """The full, strict article mapping: the core properties, the steps' fragments and one
    ``enrichment.models.<kind>`` keyword per model kind. A field declared twice must be
    declared the same (objects' sub-properties are merged by the same rule).

    ``_meta`` says which ``INDEX_VERSION`` and which enrichment (the worker's
    ``ENRICHMENT_VERSION``) the mapping is for; ``ensure_index`` publishes it with the index
    template, where ``newsroom reindex --only-outdated`` reads the enrichment version."""
    properties = merge_properties(CORE_PROPERTIES, step_properties)
    models = {"models": {"properties": {kind: {"type": "keyword"} for kind in model_kinds}}}
    properties = merge_properties(properties, {"enrichment": {"properties": models}})
    return {
        # Strict: a field the code does not know about is a bug, not something to guess a type for.
        "dynamic": "strict",
        "_meta": {"index_version": INDEX_VERSION}
        | ({"enrichment_version": enrichment_version} if enrichment_version else {}),
        "properties": properties,
    }


def merge_properties(
    base: Mapping[str, Any], extra: Mapping[str, Any], path: str = ""
) -> dict[str, Any]:
    """``base`` with ``extra``'s fields added; an object in both gets the union of its
    sub-properties; any other field in both must be equal (else ValueError)."""
    merged = dict(base)
    for name, field in extra.items():
        if name not in merged or merged[name] == field:
            merged[name] = field
            continue
        ours = merged[name]
        if _is_object(ours) and _is_object(field):
            rest_ours = {k: v for k, v in ours.items() if k != "properties"}
            rest_theirs = {k: v for k, v in field.items() if k != "properties"}
            if rest_ours == rest_theirs:
                merged[name] = {
                    **rest_ours,
                    "properties": merge_properties(
                        ours["properties"], field["properties"], f"{path}{name}."
                    ),
                }
                continue
        raise ValueError(f"mapping field {path}{name} declared twice, differently")
    return merged


def _is_object(field: Any) -> bool:
    return isinstance(field, Mapping) and "properties" in field
