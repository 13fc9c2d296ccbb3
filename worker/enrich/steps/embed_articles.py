"""One sentence embedding per article, for semantic search (the embedding package)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from embedding.model import EMBEDDING_MODEL, clip, clip_changes, embed_texts
from embedding.model import warm_up as load_embedding_model
from shared.index import EMBEDDING_DIMS
from worker.enrich.step import Document, Step, truncated


def embed_articles(docs: Sequence[Mapping[str, Any]]) -> list[Document]:
    """One vector per article from its headline and lead, for semantic search."""
    texts = [f"{doc.get('title') or ''}\n\n{doc['body']}".strip() for doc in docs]
    return [
        {"embedding": vector}
        | (
            truncated(f"text cut at {len(clip(text))} of {len(text)} characters")
            if clip_changes(text)
            else {}
        )
        for text, vector in zip(texts, embed_texts(texts), strict=True)
    ]


STEP = Step(
    "embed_articles",
    embed_articles,
    batch=True,
    properties={
        "embedding": {
            "type": "dense_vector",
            "dims": EMBEDDING_DIMS,
            "index": True,
            "similarity": "dot_product",  # the vectors are L2-normalised
        },
    },
    models={"embedding": lambda: EMBEDDING_MODEL},
    warm_up=load_embedding_model,
)
