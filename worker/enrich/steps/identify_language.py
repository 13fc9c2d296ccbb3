"""The article's language when the client gave none (lingua, worker.enrich.language)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from worker.enrich.language import detect_language
from worker.enrich.language import warm_up as load_language_models
from worker.enrich.step import Document, Step, package_version


def identify_language(doc: Mapping[str, Any]) -> Document:
    if doc.get("language"):
        return {"language_detected": False}
    text = "\n".join(part for part in (doc.get("title"), doc["body"]) if part)
    return {"language": detect_language(text), "language_detected": True}


STEP = Step(
    "identify_language",
    identify_language,
    properties={"language_detected": {"type": "boolean"}},
    models={"language": package_version("lingua-language-detector")},
    warm_up=load_language_models,
)
