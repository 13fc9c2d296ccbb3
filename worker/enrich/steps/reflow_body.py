"""Hard-wrapped bodies joined into paragraphs (worker.enrich.text.reflow)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from worker.enrich.step import Document, Step
from worker.enrich.text import reflow


def reflow_body(doc: Mapping[str, Any]) -> Document:
    """Hard-wrapped text (wire copy wrapped at 60-80 columns) joined into paragraphs before any
    other step reads the body, so sentences, quotations, names and datelines that ran across a
    line break come out whole; any other text is left as posted (worker.enrich.text.reflow).
    The stored body is the reflowed one; ``body_reflowed`` says whether it changed."""
    body = reflow(doc["body"])
    if body == doc["body"]:
        return {"body_reflowed": False}
    return {"body": body, "body_reflowed": True}


STEP = Step(
    "reflow_body",
    reflow_body,
    properties={
        # The body as posted was hard-wrapped and is stored joined into paragraphs.
        "body_reflowed": {"type": "boolean"},
    },
)
