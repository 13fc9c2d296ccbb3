"""Enrichment: small pure steps over an article document, run in order.

- ``step.py``: what a step is and declares (``Step``: its function, mapping properties, models,
  warm-up), and what it returns when it does not apply (``skipped``) or read a bounded part of
  its input (``truncated``).
- ``steps/``: one module per step, the thin declaration over the work in the modules here
  (dateline.py, entities.py, keywords.py, ...).
- ``registry.py``: the steps in order (``STEPS``), ``ENRICHMENT_VERSION``, and what is derived
  from the declarations: the full article mapping, ``model_versions()``, ``warm_up()``.
- ``runner.py``: ``enrich``/``enrich_batch``, which run the steps over a batch of articles.

Near-duplicates (duplicates.py) and names merged across articles (names.py) need state every
worker shares, in Redis: worker/pipeline.py runs them after the steps.
"""

from worker.enrich.registry import ENRICHMENT_VERSION, STEPS, model_versions, warm_up
from worker.enrich.runner import BatchResult, OnStep, base_document, enrich, enrich_batch
from worker.enrich.step import Document, Step, skipped, truncated

__all__ = [
    "ENRICHMENT_VERSION",
    "STEPS",
    "BatchResult",
    "Document",
    "OnStep",
    "Step",
    "base_document",
    "enrich",
    "enrich_batch",
    "model_versions",
    "skipped",
    "truncated",
    "warm_up",
]
