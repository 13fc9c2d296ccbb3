"""What an enrichment step is: a function over the article and what it declares about itself.

A step module under ``worker/enrich/steps/`` holds the step's function and one ``STEP``: its
name (recorded in ``enrichment.steps``), whether it takes the whole batch, the top-level mapping
properties it writes (its fragment of the strict article mapping), the models it runs (recorded
in ``enrichment.models``) and how to load them before the first article. The registry
(``worker/enrich/registry.py``) lists the steps in order and derives the mapping, the model
versions and the warm-up from these declarations.

A step reads the document and returns only the fields it sets; the runner merges them. Fields
whose names start with ``_`` are working state shared between steps, dropped before indexing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any, cast

Document = dict[str, Any]
OneArticle = Callable[[Mapping[str, Any]], Document]
WholeBatch = Callable[[Sequence[Mapping[str, Any]]], list[Document]]


@dataclass(frozen=True)
class Step:
    """One enrichment step and what it declares (see the module docstring)."""

    name: str
    # ``run(doc) -> fields``, or with ``batch``: ``run(docs) -> [fields, ...]`` in one call
    # (spaCy's ``nlp.pipe``, batched embeddings).
    run: OneArticle | WholeBatch
    batch: bool = False
    # Top-level mapping properties this step writes (fields the core declares, such as ``body``
    # or ``title``, it may rewrite without declaring them: shared/index/mapping.py).
    properties: Mapping[str, Any] = field(default_factory=dict)
    # Model kind -> a function naming what runs it, "<package> <version>" (model versions are
    # read when an article is finished, never at import).
    models: Mapping[str, Callable[[], str]] = field(default_factory=dict)
    # Loads the step's models and data now, not on the first article (worker_process_init).
    warm_up: Callable[[], None] | None = None

    def run_one(self, doc: Mapping[str, Any]) -> Document:
        if self.batch:
            return cast(WholeBatch, self.run)([doc])[0]
        return cast(OneArticle, self.run)(doc)

    def run_batch(self, docs: Sequence[Mapping[str, Any]]) -> list[Document]:
        if self.batch:
            return cast(WholeBatch, self.run)(docs)
        return [cast(OneArticle, self.run)(doc) for doc in docs]


def package_version(distribution: str) -> Callable[[], str]:
    """A ``models`` entry naming an installed distribution: "<distribution> <version>"."""
    return lambda: f"{distribution} {version(distribution)}"


def skipped(reason: str) -> Document:
    """What a step returns when it does not apply to this article; recorded in
    ``enrichment.skipped``."""
    return {"_skip": reason}


def truncated(*cuts: str) -> Document:
    """What a step adds to its fields when it worked on a bounded part of its input (see
    docs/RELIABILITY.md, "Bounded enrichment"); recorded in ``enrichment.truncated``."""
    return {"_cut": list(cuts)} if cuts else {}
