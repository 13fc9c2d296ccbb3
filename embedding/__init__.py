"""The sentence-embedding model (all-MiniLM-L6-v2 on numpy), shared by the worker, which embeds
articles, and the web service, which embeds queries. A package of its own so that a web process
loads this model and nothing else of the enrichment (spaCy, YAKE, lingua, ...): see model.py."""

from embedding.model import (
    EMBEDDING_DIMS,
    EMBEDDING_MODEL,
    clip,
    clip_changes,
    embed_texts,
    warm_up,
)

__all__ = ["EMBEDDING_DIMS", "EMBEDDING_MODEL", "clip", "clip_changes", "embed_texts", "warm_up"]
