"""The enrichment runner: every registered step over a batch of articles, in order.

Steps (worker/enrich/steps/, listed in worker/enrich/registry.py) each return the fields they
set; the runner merges them, records skips and cuts, bounds each article's time, and leaves out
an article whose step fails. Tests call ``enrich``/``enrich_batch`` directly, without Celery.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from celery.exceptions import SoftTimeLimitExceeded

from shared.document import EnrichedDocument
from worker.enrich.budget import BudgetExceeded, time_limit
from worker.enrich.nlp import memory_zone as nlp_memory_zone
from worker.enrich.registry import ENRICHMENT_VERSION, STEPS, model_versions
from worker.enrich.step import Document, Step

log = logging.getLogger(__name__)


def base_document(payload: Mapping[str, Any]) -> Document:
    """The document as posted, before any step runs."""
    return {
        "id": payload["id"],
        "url": payload.get("url"),
        "source": payload.get("source"),
        "title": payload.get("title"),
        "body": payload.get("body") or "",
        "_html": payload.get("html"),
        "authors": list(payload.get("authors") or []),
        "language": payload.get("language"),
        "published_at": payload.get("published_at"),
        "published_at_source": "given" if payload.get("published_at") else None,
        "received_at": payload["received_at"],
        "content_type": payload.get("content_type"),
        "metadata": dict(payload.get("metadata") or {}),
    }


@dataclass
class BatchResult:
    documents: list[EnrichedDocument] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # article id -> reason
    # Failures that another attempt cannot mend (the article overran its time budget): the
    # pipeline dead-letters these at once instead of trying them again.
    permanent: set[str] = field(default_factory=set)
    step_seconds: dict[str, float] = field(default_factory=dict)  # wall time per step


# Told the name of each step as it starts (the task records it, so a batch that kills its
# worker is dead-lettered with the step it was in).
OnStep = Callable[[str], None]


def _merge(doc: Document, step_name: str, fields: Document) -> None:
    reason = fields.pop("_skip", None)
    if reason:
        doc["_skipped"].append(f"{step_name}: {reason}")
    for cut in fields.pop("_cut", None) or ():  # see truncated()
        doc.setdefault("_truncated", []).append(f"{step_name}: {cut}")
    doc.update(fields)


def _finish(doc: Document, steps: Sequence[Step]) -> EnrichedDocument:
    final = {key: value for key, value in doc.items() if not key.startswith("_")}
    final["enrichment"] = {
        "version": ENRICHMENT_VERSION,
        "steps": [step.name for step in steps],
        "skipped": doc["_skipped"],
        "truncated": doc.get("_truncated", []),  # see truncated()
        "models": model_versions(),
    }
    # The fields the steps declared (tests/test_steps_mapping.py holds them to it).
    return cast(EnrichedDocument, final)


def enrich_batch(
    payloads: Sequence[Mapping[str, Any]],
    steps: Sequence[Step] = STEPS,
    *,
    budget_s: float | None = None,
    on_step: OnStep | None = None,
) -> BatchResult:
    """Enrich every payload. An article whose step raises is reported in ``failures`` and left
    out; the others go on (a batch step that raises is retried article by article to find it).

    ``budget_s`` bounds the wall time spent on each article across all steps (its share of a
    batch step counted): the step that overruns it is interrupted and the article is a
    ``permanent`` failure naming the step."""
    result = BatchResult()
    docs: list[Document] = []
    for payload in payloads:
        doc = base_document(payload)
        doc["_skipped"] = []
        doc["_spent"] = 0.0
        docs.append(doc)
    run = _Run(result, budget_s)
    # The parses live only inside this batch: spaCy forgets the words it learned from them.
    with nlp_memory_zone():
        for step in steps:
            if on_step is not None:
                on_step(step.name)
            started = time.perf_counter()
            docs = run.apply(step, docs)
            result.step_seconds[step.name] = time.perf_counter() - started
        result.documents = [_finish(doc, steps) for doc in docs]
    return result


@dataclass
class _Run:
    result: BatchResult
    budget_s: float | None

    def _left(self, doc: Document) -> float | None:
        return None if self.budget_s is None else self.budget_s - doc["_spent"]

    def _fail(self, doc: Document, step: Step, error: Exception) -> None:
        log.warning(
            "step %s failed",
            step.name,
            exc_info=not isinstance(error, BudgetExceeded),
            extra={"article_id": doc["id"]},
        )
        if isinstance(error, BudgetExceeded):
            self.result.permanent.add(doc["id"])
            reason = (
                f"enrichment step {step.name} exceeded the article's time budget "
                f"({self.budget_s:g} s; {doc['_spent']:.1f} s spent)"
            )
        else:
            reason = f"enrichment step {step.name} failed: {type(error).__name__}: {error}"
        self.result.failures[doc["id"]] = reason

    def apply(self, step: Step, docs: list[Document]) -> list[Document]:
        """Run one step over the batch; return the documents that survived it."""
        if not docs:
            return docs
        if step.batch:
            # The whole batch may take what its most patient article has left: a normal batch
            # needs a fraction of that; one that overruns falls back to one article at a time,
            # each within its own budget.
            lefts = [self._left(doc) for doc in docs]
            whole = None if None in lefts else max(left or 0.0 for left in lefts)
            started = time.perf_counter()
            try:
                with time_limit(whole):
                    outputs = step.run_batch(docs)
                share = (time.perf_counter() - started) / len(docs)
                for doc, fields in zip(docs, outputs, strict=True):
                    doc["_spent"] += share
                    _merge(doc, step.name, fields)
                return docs
            except SoftTimeLimitExceeded:
                raise  # the task's own limit: the task splits the batch
            except Exception:
                log.exception("batch step %s failed; retrying article by article", step.name)
        survivors: list[Document] = []
        for doc in docs:
            started = time.perf_counter()
            try:
                with time_limit(self._left(doc)):
                    fields = step.run_one(doc)
                doc["_spent"] += time.perf_counter() - started
                _merge(doc, step.name, fields)
                survivors.append(doc)
            except SoftTimeLimitExceeded:
                raise
            except Exception as error:  # one bad article must not sink its batch
                doc["_spent"] += time.perf_counter() - started
                self._fail(doc, step, error)
        return survivors


def enrich(payload: Mapping[str, Any], steps: Sequence[Step] = STEPS) -> EnrichedDocument:
    """The enriched document for one queued article payload; raises if a step fails."""
    result = enrich_batch([payload], steps)
    if result.failures:
        raise ValueError(next(iter(result.failures.values())))
    return result.documents[0]
